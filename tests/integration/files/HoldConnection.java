import java.net.Socket;

/** A plain Java client: connects, holds the connection for two seconds, and closes it. */
public class HoldConnection {
    public static void main(String[] args) throws Exception {
        try (Socket socket = new Socket(args[0], Integer.parseInt(args[1]))) {
            System.out.println("keepalive=" + socket.getKeepAlive());
            Thread.sleep(2000);
        }
    }
}
