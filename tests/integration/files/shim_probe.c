/*
 * Exercises socket() as programs call it, for the shim's tests. Prints one line per check:
 *   errno_success <errno after a successful socket(), set to 4242 before>
 *   errno_failure <errno after socket() with a bad protocol>
 *   <kind> keepalive=<SO_KEEPALIVE> [idle=<TCP_KEEPIDLE> ...]
 *   threads ok=<sockets with keep-alive> of <sockets>
 * Exits 0 unless a call behaves unexpectedly (a crash, or an fd leak).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockopt.h"


static void show(const char *kind, int domain, int type, int protocol)
{
	int fd = socket(domain, type, protocol);

	if (fd < 0) {
		printf("%s unavailable errno=%d\n", kind, errno);
		return;
	}
	if (domain == AF_UNIX || (type & 0xf) != SOCK_STREAM)
		printf("%s keepalive=%d\n", kind, opt(fd, SOL_SOCKET, SO_KEEPALIVE));
	else
		printf("%s keepalive=%d idle=%d intvl=%d cnt=%d user_timeout=%d\n", kind,
		       opt(fd, SOL_SOCKET, SO_KEEPALIVE), opt(fd, IPPROTO_TCP, TCP_KEEPIDLE),
		       opt(fd, IPPROTO_TCP, TCP_KEEPINTVL), opt(fd, IPPROTO_TCP, TCP_KEEPCNT),
		       opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
	close(fd);
}

#define THREADS 8
#define PER_THREAD 500

static void *worker(void *arg)
{
	long ok = 0;
	int i, fd;

	(void)arg;
	for (i = 0; i < PER_THREAD; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		ok += opt(fd, SOL_SOCKET, SO_KEEPALIVE) == 1;
		close(fd);
	}
	return (void *)ok;
}

int main(void)
{
	pthread_t threads[THREADS];
	long total = 0;
	void *result;
	int fd, i;

	errno = 4242;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("errno_success %d\n", errno);
	close(fd);
	errno = 0;
	fd = socket(AF_INET, SOCK_STREAM, 9999);
	printf("errno_failure %d fd=%d\n", errno, fd);

	show("tcp4", AF_INET, SOCK_STREAM, 0);
	show("tcp4_flags", AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	show("tcp4_ipproto", AF_INET, SOCK_STREAM, IPPROTO_TCP);
	show("tcp6", AF_INET6, SOCK_STREAM, 0);
	show("mptcp4", AF_INET, SOCK_STREAM, 262);
	show("mptcp6", AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 262);
	show("udp4", AF_INET, SOCK_DGRAM, 0);
	show("raw4", AF_INET, SOCK_RAW, IPPROTO_TCP);
	show("seqpacket_unix", AF_UNIX, SOCK_SEQPACKET, 0);
	show("stream_unix", AF_UNIX, SOCK_STREAM, 0);

	for (i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, worker, NULL);
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], &result);
		total += (long)result;
	}
	printf("threads ok=%ld of %d\n", total, THREADS * PER_THREAD);

	/* No descriptor may be left behind by the shim: the next fd is the lowest free one. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("next_fd %d\n", fd);
	close(fd);
	return 0;
}
