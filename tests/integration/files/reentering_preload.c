/*
 * An auditing preload, as APM and audit tools ship them: its open() wrapper reports each open over a
 * socket, so it calls socket() from inside open(). Preloaded before the shim, it makes the shim's socket()
 * run while the shim is still reading its configuration (with open()) in the same thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

int open(const char *path, int flags, ...)
{
	static int (*real_open)(const char *, int, ...);
	mode_t mode = 0;
	va_list args;
	int report = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (report >= 0)
		close(report);
	if (!real_open)
		real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(args, flags);
		mode = (mode_t)va_arg(args, int);
		va_end(args);
	}
	return real_open(path, flags, mode);
}
