/* One socket option's value as an int, or -1 when it cannot be read: shared by the shim's test programs. */
#ifndef KEEPALIVE_TEST_SOCKOPT_H
#define KEEPALIVE_TEST_SOCKOPT_H
#include <sys/socket.h>

static inline int opt(int fd, int level, int name)
{
	int value = -1;
	socklen_t len = sizeof(value);

	if (getsockopt(fd, level, name, &value, &len) != 0)
		return -1;
	return value;
}
#endif
