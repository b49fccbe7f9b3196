/* connect()+accept()+close() over loopback in a loop; prints the mean nanoseconds per connection.
 * Both ends are this process's, so a preload or a cgroup program acts on both. The client closes
 * with SO_LINGER 0 (a reset), so that no TIME_WAIT piles up. Usage: connect_loop N */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long i, n = argc > 1 ? atol(argv[1]) : 10000;
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	struct timespec start, end;
	int listener, client, server;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 128) != 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < n; i++) {
		client = socket(AF_INET, SOCK_STREAM, 0);
		if (client < 0 || connect(client, (struct sockaddr *)&addr, sizeof(addr)) != 0)
			return 1;
		server = accept(listener, NULL, NULL);
		if (server < 0)
			return 1;
		setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		close(client);
		close(server);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
