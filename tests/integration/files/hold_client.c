/* A TCP client built with gcc -static: connects to 127.0.0.1:PORT, prints its local port, and holds the
 * connection until its standard input closes (120 s at most), or for SECONDS when given (as a service).
 * Sets no socket option. Usage: hold_client PORT [SECONDS] */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in to, me;
	socklen_t len = sizeof(me);
	struct pollfd in = { .fd = 0, .events = POLLIN };
	int fd;

	if (argc != 2 && argc != 3)
		return 2;
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((unsigned short)atoi(argv[1]));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0)
		return 1;
	if (getsockname(fd, (struct sockaddr *)&me, &len) != 0)
		return 1;
	printf("%d\n", ntohs(me.sin_port));
	fflush(stdout);
	if (argc == 3)
		sleep((unsigned int)atoi(argv[2]));
	else
		poll(&in, 1, 120000);
	close(fd);
	return 0;
}
