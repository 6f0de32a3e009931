/* io/io_common.c: the pure helpers of the io layer, shared by every backend.
 *
 * Address parsing, formatting and comparison for struct ac_addr, written
 * with inet_pton/inet_ntop only (no name lookups, no interface queries, so
 * they behave the same on the real network and in the simulator),
 * ac_buggify, which asks a backend whether a fault point fires, and
 * ac__io_stderr, which writes the engine's log lines to standard error.
 *
 * Accepted text forms: "1.2.3.4", "1.2.3.4:80", "::1", "fe80::1%2",
 * "[::1]:80", "[fe80::1%2]:80". A scope id must be numeric. Ports are 0..65535,
 * decimal digits only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

/* Longest host part we parse, brackets excluded ("v6%scope"). */
#define IO_HOST_MAX 64

void ac_addr_init(ac_addr *a)
{
	memset(a, 0, sizeof(*a));
}

/* Parse a decimal number of at most max_digits digits and value <= max from
 * s (NUL-terminated, nothing else allowed). Returns 0 or -EINVAL. */
static int io_parse_uint(const char *s, int max_digits, uint32_t max, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0;

	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= max_digits)
			return -EINVAL;
		v = v * 10 + (uint32_t)(*s - '0');
	}
	if (n == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse a bare host (no brackets, no port) of family 4 or 6 into *a. An IPv6
 * host may carry "%scope" with a numeric scope. */
static int io_parse_host(ac_addr *a, const char *host, size_t n, int v6)
{
	char buf[IO_HOST_MAX];
	char *pct;
	uint32_t scope = 0;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, n);
	buf[n] = '\0';
	if (!v6) {
		if (inet_pton(AF_INET, buf, a->ip) != 1)
			return -EINVAL;
		a->family = AC_AF_INET;
		return 0;
	}
	pct = strchr(buf, '%');
	if (pct) {
		*pct = '\0';
		if (io_parse_uint(pct + 1, 10, UINT32_MAX, &scope) < 0)
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, buf, a->ip) != 1)
		return -EINVAL;
	a->family = AC_AF_INET6;
	a->scope = scope;
	return 0;
}

int ac_addr_parse(ac_addr *a, const char *text, uint16_t default_port)
{
	ac_addr t;
	const char *host = text, *colon, *port = NULL;
	size_t n;
	uint32_t p = default_port;
	int v6, rc;

	if (text == NULL)
		return -EINVAL;
	ac_addr_init(&t);
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		host = text + 1;
		n = (size_t)(end - host);
		port = end[1] == ':' ? end + 2 : NULL;
		v6 = 1;
	} else {
		colon = strchr(text, ':');
		v6 = colon != NULL && strchr(colon + 1, ':') != NULL;
		n = (colon != NULL && !v6) ? (size_t)(colon - text) : strlen(text);
		port = (colon != NULL && !v6) ? colon + 1 : NULL;
	}
	if (port != NULL && io_parse_uint(port, 5, 65535, &p) < 0)
		return -EINVAL;
	rc = io_parse_host(&t, host, n, v6);
	if (rc < 0)
		return rc;
	t.port = (uint16_t)p;
	*a = t;
	return 0;
}

char *ac_addr_format_ip(const ac_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if (a->family == AC_AF_INET) {
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
		snprintf(buf, len, "%s", ip);
	} else if (a->family == AC_AF_INET6) {
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		if (a->scope != 0)
			snprintf(buf, len, "%s%%%u", ip, (unsigned)a->scope);
		else
			snprintf(buf, len, "%s", ip);
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}

char *ac_addr_format(const ac_addr *a, char *buf, size_t len)
{
	char ip[AC_ADDR_STRLEN];

	if (len == 0)
		return buf;
	ac_addr_format_ip(a, ip, sizeof(ip));
	if (a->family == AC_AF_INET)
		snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
	else if (a->family == AC_AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
	else
		snprintf(buf, len, "%s", ip);
	return buf;
}

/* Number of meaningful address bytes for a's family. */
static size_t io_ip_len(const ac_addr *a)
{
	return a->family == AC_AF_INET ? 4 : a->family == AC_AF_INET6 ? 16 : 0;
}

int ac_addr_eq(const ac_addr *a, const ac_addr *b)
{
	return ac_addr_cmp(a, b) == 0;
}

/* Order: family, ip bytes, scope (a tie-breaker that keeps cmp == 0 exactly
 * when ac_addr_eq holds), port. */
int ac_addr_cmp(const ac_addr *a, const ac_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->ip, b->ip, io_ip_len(a));
	if (c != 0)
		return c < 0 ? -1 : 1;
	if (a->scope != b->scope)
		return a->scope < b->scope ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}

int ac_addr_is_loopback(const ac_addr *a)
{
	static const uint8_t v6_loop[16] = { [15] = 1 };
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a->family == AC_AF_INET)
		return a->ip[0] == 127;
	if (a->family != AC_AF_INET6)
		return 0;
	if (memcmp(a->ip, v6_loop, 16) == 0)
		return 1;
	return memcmp(a->ip, v4_mapped, 12) == 0 && a->ip[12] == 127;
}

int ac_addr_is_any(const ac_addr *a)
{
	static const uint8_t zero[16];
	size_t n = io_ip_len(a);

	return n != 0 && memcmp(a->ip, zero, n) == 0;
}

int ac_buggify(ac_io *io, const char *site)
{
	const struct ac_io_ops *o;

	if (io == NULL || site == NULL)
		return 0;
	o = io->ops;
	if (o->version < 2 || o->buggify == NULL)
		return 0;
	return o->buggify(io, site);
}

const char *ac__io_log_level_env(void)
{
	return getenv("AC_LOG_LEVEL");
}

const char *ac__io_keylog_env(void)
{
	return getenv("SSLKEYLOGFILE");
}

void ac__io_stderr(const char *text)
{
	fputs(text, stderr);
}
