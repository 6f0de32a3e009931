/* net/nlog.c: log lines of a class that a stranger or a noisy network can
 * repeat at will — failed handshakes (any connection to our port), bad
 * MACs on discovery announcements (any datagram, from any source address,
 * spoofed or not) — rate-limited per class over the whole node, whatever
 * their source: at most AC__NLOG_BURST lines of a class are shown per
 * window (n_nlog_window_ns, 10 s); the rest are counted, and the count is
 * reported as one line "CLASS: N more lines suppressed in the last X s"
 * at the level of the most severe one suppressed — by the next line of
 * that class after the window, or by the heartbeat (ac__nlog_flush) once
 * the window passed. AC_LOG_ERROR lines are never suppressed. The
 * engine's own limit of identical lines (ac_log) applies on top.
 */
#include "net/net.h"

static const char *const nlog_name[AC__NLOG_NCLASSES] = {
	[AC__NLOG_HANDSHAKE] = "failed handshakes",
	[AC__NLOG_BADMAC] = "discovery announcements with a bad MAC",
};

/* Report class c's suppressed count and open a new window at now. */
static void nlog_summary(ac_node *n, ac__nlog_class *c, int cls, int64_t now)
{
	int64_t d = now - c->c_start_ns;
	int64_t tenths = d > 0 ? (d + 50000000) / 100000000 : 0;
	if (c->c_suppressed)
		ac__nlog(n, c->c_level, "%s: %llu more line%s suppressed in the last "
		         "%lld.%lld s", nlog_name[cls],
		         (unsigned long long)c->c_suppressed,
		         c->c_suppressed == 1 ? "" : "s", (long long)(tenths / 10),
		         (long long)(tenths % 10));
	c->c_start_ns = now;
	c->c_shown = 0;
	c->c_suppressed = 0;
	c->c_level = AC_LOG_DEBUG;
}

void ac__nlog_class_v(ac_node *n, int cls, int level, const char *fmt, ...)
{
	ac__nlog_class *c;
	int64_t now = ac_sched_now_ns(n->n_sched);
	char text[AC__LOG_LINE];
	va_list ap;
	AC_ASSERT(cls >= 0 && cls < AC__NLOG_NCLASSES);
	if (level > n->n_sched->s_log_level)
		return; /* not shown anyway: costs nothing */
	c = &n->n_nlog[cls];
	if (now - c->c_start_ns >= n->n_nlog_window_ns)
		nlog_summary(n, c, cls, now);
	if (level > AC_LOG_ERROR && c->c_shown >= AC__NLOG_BURST) {
		c->c_suppressed++;
		if (level < c->c_level)
			c->c_level = level;
		return;
	}
	c->c_shown++;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ac__nlog(n, level, "%s", text);
}

void ac__nlog_flush(ac_node *n)
{
	int64_t now = ac_sched_now_ns(n->n_sched);
	int i;
	for (i = 0; i < AC__NLOG_NCLASSES; i++) {
		ac__nlog_class *c = &n->n_nlog[i];
		if (c->c_suppressed && now - c->c_start_ns >= n->n_nlog_window_ns)
			nlog_summary(n, c, i, now);
	}
}
