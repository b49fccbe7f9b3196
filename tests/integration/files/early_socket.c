/*
 * A library whose constructor opens a TCP socket, for the shim's tests. Linked into a program, its
 * constructor runs before the constructor of a library preloaded into that program, so the shim
 * sees this socket() before its own constructor has loaded the settings. Prints:
 *   early keepalive=<SO_KEEPALIVE> idle=<TCP_KEEPIDLE>
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockopt.h"


__attribute__((constructor)) static void open_early(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	printf("early keepalive=%d idle=%d\n", opt(fd, SOL_SOCKET, SO_KEEPALIVE), opt(fd, IPPROTO_TCP, TCP_KEEPIDLE));
	fflush(stdout);
	close(fd);
}

void early_socket_linked(void)
{
}
