/*
 * keepalive_shim: turn TCP keep-alive on for programs that never ask for it.
 *
 * Preloaded into a program (LD_PRELOAD, or /etc/ld.so.preload), it wraps socket(). For AF_INET
 * and AF_INET6 sockets whose type, once SOCK_NONBLOCK and SOCK_CLOEXEC are masked off, is
 * SOCK_STREAM, with the protocol TCP (0 or IPPROTO_TCP) or MPTCP (IPPROTO_MPTCP), it sets
 * SO_KEEPALIVE and, where configured, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and
 * TCP_USER_TIMEOUT. Other sockets (UDP, raw, seqpacket, unix) are left alone. A listening socket
 * passes these options on to the connections it accepts.
 *
 * Configuration is read once: by the library's constructor, or by the first socket() call if that
 * comes first (another library's constructor may open a socket before ours has run). The file
 * /etc/keepalive-shim.conf (KEY=VALUE lines; '#' starts a comment) is read first, then the
 * environment, which wins. The file is read whole or not at all: only a regular file is read
 * (opened without blocking and without becoming a controlling terminal, so a FIFO or a device named
 * by KEEPALIVE_SHIM_CONF can neither hang nor rob a program), and one larger than 64 KiB, holding
 * a NUL byte, or failing to read is ignored whole rather than cut. The keys are those of
 * libkeepalive, so that this library is a drop-in replacement:
 *   KEEPALIVE=off              leave every socket alone
 *   KEEPIDLE=seconds           1..32767
 *   KEEPINTVL=seconds          1..32767
 *   KEEPCNT=count              1..127
 *   KEEPALIVE_USER_TIMEOUT=ms  0..2147483647 (TCP_USER_TIMEOUT; 0 is the kernel's default)
 * A missing, non-numeric or out-of-range value is ignored for that option only; it is reported
 * on stderr only when KEEPALIVE_DEBUG=1. KEEPALIVE_SHIM_CONF names another configuration file.
 * In setuid and setgid programs (secure execution) only the system file is read.
 *
 * socket() returns exactly what the real socket() returned, with errno preserved. If a timing
 * option (idle, interval, count) cannot be set, the socket is left without keep-alive; a
 * TCP_USER_TIMEOUT the socket refuses (MPTCP does, with ENOPROTOOPT) is skipped and keep-alive is
 * set all the same. Nothing is allocated per call, and the configuration is loaded exactly once
 * (pthread_once) and immutable afterwards, so the wrapper is safe in threaded programs.
 *
 * Copyright: linuxnet.keepalive contributors
 * GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SHIM_CONF "/etc/keepalive-shim.conf"
/* Larger files are refused whole: a value cut in half would be worse than no file at all. */
#define MAX_CONF 65536

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

typedef int (*socket_fn)(int, int, int);

struct option_def {
	const char *name;
	long low;
	long high;
};

enum { OPT_IDLE, OPT_INTVL, OPT_CNT, OPT_USER_TIMEOUT, OPT_COUNT };

static const struct option_def options[OPT_COUNT] = {
	[OPT_IDLE] = { "KEEPIDLE", 1, 32767 },
	[OPT_INTVL] = { "KEEPINTVL", 1, 32767 },
	[OPT_CNT] = { "KEEPCNT", 1, 127 },
	[OPT_USER_TIMEOUT] = { "KEEPALIVE_USER_TIMEOUT", 0, INT_MAX },
};

static const int tcp_levels[OPT_COUNT] = {
	[OPT_IDLE] = TCP_KEEPIDLE,
	[OPT_INTVL] = TCP_KEEPINTVL,
	[OPT_CNT] = TCP_KEEPCNT,
	[OPT_USER_TIMEOUT] = TCP_USER_TIMEOUT,
};

/* Written once by load_settings() (under pthread_once), read-only afterwards. */
static int shim_enabled = 1;
static int shim_debug;
static int value_set[OPT_COUNT];
static int values[OPT_COUNT];
static socket_fn real_socket;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;
/* Set while this thread loads the settings: a socket() call it makes meanwhile must not wait for them. */
static __thread int loading __attribute__((tls_model("initial-exec")));

__attribute__((format(printf, 1, 2))) static void debug(const char *fmt, ...)
{
	static const char prefix[] = "keepalive_shim: ";
	char line[512];
	va_list args;
	int len;
	ssize_t done;
	size_t at = 0;

	if (!shim_debug)
		return;
	memcpy(line, prefix, sizeof(prefix) - 1);
	va_start(args, fmt);
	len = vsnprintf(line + sizeof(prefix) - 1, sizeof(line) - sizeof(prefix), fmt, args);
	va_end(args);
	if (len < 0)
		return;
	len += (int)sizeof(prefix) - 1;
	if (len > (int)sizeof(line) - 2)
		len = (int)sizeof(line) - 2;
	line[len++] = '\n';
	/* One write(2) per line, so that the lines of threads never interleave. */
	while (at < (size_t)len) {
		done = write(STDERR_FILENO, line + at, (size_t)len - at);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return;
		at += (size_t)done;
	}
}

/* Strict base-10 integer in [low, high]; returns 0 and sets *out, or -1. */
static int parse_number(const char *text, long low, long high, int *out)
{
	char *end;
	long value;

	while (*text == ' ' || *text == '\t')
		text++;
	if (*text == '\0')
		return -1;
	errno = 0;
	value = strtol(text, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (errno != 0 || *end != '\0' || value < low || value > high)
		return -1;
	*out = (int)value;
	return 0;
}

/* Apply one KEY=VALUE setting from `source` ("file" or "environment"). */
static void apply_setting(const char *key, const char *value, const char *source)
{
	int i, number;

	if (strcmp(key, "KEEPALIVE") == 0) {
		if (strcasecmp(value, "off") == 0)
			shim_enabled = 0;
		else if (strcasecmp(value, "on") == 0)
			shim_enabled = 1;
		else
			debug("ignoring KEEPALIVE=%s from the %s (allowed: on, off)", value, source);
		return;
	}
	for (i = 0; i < OPT_COUNT; i++) {
		if (strcmp(key, options[i].name) != 0)
			continue;
		if (parse_number(value, options[i].low, options[i].high, &number) == 0) {
			values[i] = number;
			value_set[i] = 1;
		} else {
			debug("ignoring %s=%s from the %s: not an integer from %ld to %ld", key, value, source,
			      options[i].low, options[i].high);
		}
		return;
	}
	debug("ignoring unknown setting %s in the %s", key, source);
}

static void read_file(const char *path)
{
	static char buf[MAX_CONF + 1];
	char *line, *next, *eq, *key, *value, *end;
	struct stat info;
	ssize_t got;
	size_t used = 0;
	int fd, failed = 0;

	/* Without blocking (a FIFO) and without becoming the program's controlling terminal (a tty). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			debug("cannot open %s: %s; its settings are not used", path, strerror(errno));
		return;
	}
	if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
		debug("ignoring %s: not a regular file, so it is not read at all", path);
		close(fd);
		return;
	}
	/* One byte more than allowed is asked for, to tell a full-sized file from a larger one. */
	while (used < sizeof(buf)) {
		got = read(fd, buf + used, sizeof(buf) - used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			failed = errno;
		if (got <= 0)
			break;
		used += (size_t)got;
	}
	close(fd);
	if (failed) {
		debug("ignoring %s: reading it failed (%s), so none of it is used", path, strerror(failed));
		return;
	}
	if (used > MAX_CONF) {
		debug("ignoring %s: larger than %d bytes, so it is not read at all", path, MAX_CONF);
		return;
	}
	if (memchr(buf, '\0', used) != NULL) {
		debug("ignoring %s: it holds a NUL byte, so none of it is used", path);
		return;
	}
	buf[used] = '\0';
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if ((eq = strchr(line, '#')) != NULL)
			*eq = '\0';
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		key = line;
		value = eq + 1;
		while (*key == ' ' || *key == '\t')
			key++;
		end = key + strlen(key);
		while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		while (*value == ' ' || *value == '\t')
			value++;
		end = value + strlen(value);
		while (end > value && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*key)
			apply_setting(key, value, "file");
	}
}

static socket_fn resolve_socket(void)
{
	socket_fn fn = __atomic_load_n(&real_socket, __ATOMIC_ACQUIRE);

	if (!fn) {
		fn = (socket_fn)dlsym(RTLD_NEXT, "socket");
		__atomic_store_n(&real_socket, fn, __ATOMIC_RELEASE);
	}
	return fn;
}

static void load_settings(void)
{
	static const char *env_keys[] = { "KEEPALIVE", "KEEPIDLE", "KEEPINTVL", "KEEPCNT",
					  "KEEPALIVE_USER_TIMEOUT" };
	const char *value, *path;
	size_t i;
	int saved = errno;

	loading = 1;
	value = secure_getenv("KEEPALIVE_DEBUG");
	shim_debug = value && strcmp(value, "1") == 0;
	path = secure_getenv("KEEPALIVE_SHIM_CONF");
	read_file(path && *path ? path : SHIM_CONF);
	for (i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++) {
		value = secure_getenv(env_keys[i]);
		if (value)
			apply_setting(env_keys[i], value, "environment");
	}
	resolve_socket();
	loading = 0;
	errno = saved;
}

__attribute__((constructor)) static void keepalive_shim_init(void)
{
	pthread_once(&settings_once, load_settings);
}

int socket(int domain, int type, int protocol)
{
	static const int on = 1;
	socket_fn fn;
	int fd, saved, i, failed = 0;

	fn = resolve_socket();
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	/* Re-entered while this thread loads the settings: the real socket(), untouched. */
	if (loading)
		return fn(domain, type, protocol);
	pthread_once(&settings_once, load_settings);
	fd = fn(domain, type, protocol);
	if (fd < 0 || !shim_enabled || (domain != AF_INET && domain != AF_INET6) ||
	    (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP && protocol != IPPROTO_MPTCP))
		return fd;

	saved = errno;
	/* Timing first, SO_KEEPALIVE last: a failure leaves keep-alive off, as the program asked. */
	for (i = 0; i < OPT_USER_TIMEOUT && !failed; i++) {
		if (value_set[i] &&
		    setsockopt(fd, IPPROTO_TCP, tcp_levels[i], &values[i], sizeof(values[i])) != 0)
			failed = 1;
	}
	if (!failed && value_set[OPT_USER_TIMEOUT] &&
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &values[OPT_USER_TIMEOUT],
		       sizeof(values[OPT_USER_TIMEOUT])) != 0)
		debug("socket %d refuses TCP_USER_TIMEOUT (%s); keep-alive is set without it", fd, strerror(errno));
	if (failed) {
		debug("could not set the keep-alive timing of socket %d: %s; left as created", fd, strerror(errno));
	} else if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0) {
		debug("could not set SO_KEEPALIVE on socket %d: %s; left as created", fd, strerror(errno));
	}
	errno = saved;
	return fd;
}
