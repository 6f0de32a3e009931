/* tools/acpcap_out.c: the printers of `acpcap dump` and `acpcap stats`
 * (see acpcap_out.h). Text output is for people (aligned columns); JSON
 * output is one object per line, every string escaped.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/acpcap_out.h"

int acp_out_init(acp_out *o, FILE *fp, int json, size_t max_body)
{
	memset(o, 0, sizeof(*o));
	o->o_fp = fp;
	o->o_json = json;
	o->o_max = max_body == 0 || max_body > ACP_BODY_TEXT_MAX ? ACP_BODY_TEXT_MAX
	                                                         : max_body;
	if ((o->o_body = malloc(o->o_max + 1)) == NULL)
		return -ENOMEM;
	return 0;
}

void acp_out_fini(acp_out *o)
{
	free(o->o_body);
	free(o->o_conns);
	o->o_body = NULL;
	o->o_conns = NULL;
}

char *acp_time_str(int64_t ts_ns, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64 ".%09" PRId64, ts_ns / 1000000000,
	         ts_ns % 1000000000);
	return buf;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t out_utf8(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	uint32_t cp;
	size_t len, i;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	if (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return len;
}

void acp_json_str(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;
	fputc('"', fp);
	while (i < n) {
		unsigned c = p[i];
		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c == '\r')
			fputs("\\r", fp);
		else if (c < 0x20 || c == 0x7f)
			fprintf(fp, "\\u%04x", c);
		if (c < 0x80 && (c == '"' || c == '\\' || c < 0x20 || c == 0x7f)) {
			i++;
			continue;
		}
		if ((k = out_utf8(p + i, n - i)) == 0) {
			fputs("\\ufffd", fp);
			i++;
			continue;
		}
		fwrite(p + i, 1, k, fp);
		i += k;
	}
	fputc('"', fp);
}

/* Like acp_json_str for a key and its value, with the separator. */
static void out_jkey(FILE *fp, const char *key, const char *val)
{
	fprintf(fp, ",\"%s\":", key);
	acp_json_str(fp, val);
}

/* ---- dump -------------------------------------------------------------------------- */

/* The fields of one printed frame. */
struct out_line {
	char time[32];
	char src[AC_ADDR_STRLEN];
	char dst[AC_ADDR_STRLEN];
	/* TCP: the connection as client -> server. */
	char cli[AC_ADDR_STRLEN];
	char srv[AC_ADDR_STRLEN];
	char tbuf[16];
	const char *type;
	char flags[32];
	const char *dir;
	const char *step;
	char mac[2 * AC_WIRE_MAC + 1];
};

static void out_line_fill(const acp_item *it, struct out_line *l)
{
	const acp_frame *f = it->it_frame;
	int i;
	acp_time_str(it->it_ts_ns, l->time, sizeof(l->time));
	ac_addr_format(&it->it_src, l->src, sizeof(l->src));
	ac_addr_format(&it->it_dst, l->dst, sizeof(l->dst));
	ac_addr_format(it->it_to_srv ? &it->it_src : &it->it_dst, l->cli, sizeof(l->cli));
	ac_addr_format(it->it_to_srv ? &it->it_dst : &it->it_src, l->srv, sizeof(l->srv));
	l->type = acp_type_str(f->f_type, l->tbuf, sizeof(l->tbuf));
	acp_flags_str(f->f_flags, l->flags, sizeof(l->flags));
	l->dir = it->it_udp ? "udp" : it->it_to_srv ? "c>s" : "s>c";
	l->step = acp_frame_step(f);
	l->mac[0] = '\0';
	for (i = 0; it->it_mac != NULL && i < AC_WIRE_MAC; i++)
		snprintf(l->mac + 2 * i, 3, "%02x", it->it_mac[i]);
}

static void out_dump_json(acp_out *o, const acp_item *it, const struct out_line *l)
{
	const acp_frame *f = it->it_frame;
	FILE *fp = o->o_fp;
	fprintf(fp, "{\"time\":\"%s\",\"time_ns\":%" PRId64 ",\"proto\":\"%s\",\"conn\":%u",
	        l->time, it->it_ts_ns, it->it_udp ? "udp" : "tcp", it->it_conn);
	if (!it->it_udp) {
		out_jkey(fp, "client", l->cli);
		out_jkey(fp, "server", l->srv);
	}
	out_jkey(fp, "dir", l->dir);
	out_jkey(fp, "src", l->src);
	out_jkey(fp, "dst", l->dst);
	out_jkey(fp, "type", l->type);
	fprintf(fp, ",\"type_id\":%u", f->f_type);
	out_jkey(fp, "flags", l->flags);
	fprintf(fp, ",\"req_id\":%" PRIu32 ",\"len\":%" PRIu32, f->f_req_id, f->f_body_len);
	if (l->step != NULL)
		out_jkey(fp, "step", l->step);
	out_jkey(fp, "body", o->o_body);
	if (it->it_udp)
		out_jkey(fp, "mac", l->mac);
	fputs("}\n", fp);
}

void acp_out_dump_item(void *arg, const acp_item *it)
{
	acp_out *o = arg;
	struct out_line l;

	out_line_fill(it, &l);
	acp_body_render(it->it_frame, o->o_body, o->o_max + 1);
	if (o->o_json) {
		out_dump_json(o, it, &l);
	} else if (it->it_udp) {
		fprintf(o->o_fp, "%s udp %s -> %s udp %-10s %-10s id=%" PRIu32 " %s mac=%.16s..\n",
		        l.time, l.src, l.dst, l.type, l.flags, it->it_frame->f_req_id,
		        o->o_body, l.mac);
	} else {
		fprintf(o->o_fp, "%s #%u %s -> %s %s %-10s %-10s id=%" PRIu32 " %s%s%s%s\n",
		        l.time, it->it_conn, l.cli, l.srv, l.dir, l.type, l.flags,
		        it->it_frame->f_req_id, l.step ? "(" : "", l.step ? l.step : "",
		        l.step ? ") " : "", o->o_body);
	}
	if (ferror(o->o_fp))
		o->o_err = 1;
}

/* ---- stats ------------------------------------------------------------------------ */

void acp_out_stats_item(void *arg, const acp_item *it)
{
	acp_out *o = arg;
	const acp_frame *f = it->it_frame;
	acp_type_count *tc = &o->o_types[f->f_type][(f->f_flags & AC_WF_REPLY) != 0];
	tc->tc_frames++;
	tc->tc_bytes += AC_WIRE_HDR + (uint64_t)f->f_body_len +
	                (it->it_udp ? AC_WIRE_MAC : 0);
}

void acp_out_stats_conn(void *arg, const acp_conn_info *ci)
{
	acp_out *o = arg;
	acp_conn_info *n;
	if (o->o_nconns == o->o_capconns) {
		size_t cap = o->o_capconns ? o->o_capconns * 2 : 64;
		if ((n = realloc(o->o_conns, cap * sizeof(*n))) == NULL) {
			o->o_err = 1;
			return;
		}
		o->o_conns = n;
		o->o_capconns = cap;
	}
	o->o_conns[o->o_nconns++] = *ci;
}

static int out_conn_cmp(const void *a, const void *b)
{
	const acp_conn_info *x = a, *y = b;
	return x->ci_conn < y->ci_conn ? -1 : x->ci_conn > y->ci_conn;
}

/* How a direction ended: "fin", "rst", "open"; "+lost" etc. when its
 * frames could not all be decoded. */
static const char *out_end(const acp_conn_info *ci, int d)
{
	static const char *const split[] = {"", "+foreign", "+lost", "+nomem"};
	static char buf[2][32];
	int s = ci->ci_split[d] >= 0 && ci->ci_split[d] <= 3 ? ci->ci_split[d] : 0;
	snprintf(buf[d], sizeof(buf[d]), "%s%s%s",
	         ci->ci_fin[d] ? "fin" : ci->ci_rst ? "rst" : "open", split[s],
	         ci->ci_missing[d] ? "+gap" : "");
	return buf[d];
}

static void out_stats_conns(acp_out *o)
{
	char c[AC_ADDR_STRLEN], s[AC_ADDR_STRLEN];
	size_t i;
	if (o->o_nconns > 1)
		qsort(o->o_conns, o->o_nconns, sizeof(*o->o_conns), out_conn_cmp);
	if (!o->o_json)
		fprintf(o->o_fp, "%-5s %-22s %-22s %8s %10s %8s %10s  %s\n", "conn", "client",
		        "server", "frames>", "bytes>", "frames<", "bytes<", "end >/<");
	for (i = 0; i < o->o_nconns; i++) {
		const acp_conn_info *ci = &o->o_conns[i];
		ac_addr_format(&ci->ci_cli, c, sizeof(c));
		ac_addr_format(&ci->ci_srv, s, sizeof(s));
		if (o->o_json) {
			fprintf(o->o_fp, "{\"kind\":\"conn\",\"conn\":%u", ci->ci_conn);
			out_jkey(o->o_fp, "client", c);
			out_jkey(o->o_fp, "server", s);
			fprintf(o->o_fp, ",\"frames_c2s\":%" PRIu64 ",\"bytes_c2s\":%" PRIu64
			        ",\"frames_s2c\":%" PRIu64 ",\"bytes_s2c\":%" PRIu64
			        ",\"missing_c2s\":%" PRIu64 ",\"missing_s2c\":%" PRIu64,
			        ci->ci_frames[0], ci->ci_bytes[0], ci->ci_frames[1],
			        ci->ci_bytes[1], ci->ci_missing[0], ci->ci_missing[1]);
			out_jkey(o->o_fp, "end_c2s", out_end(ci, 0));
			out_jkey(o->o_fp, "end_s2c", out_end(ci, 1));
			fputs("}\n", o->o_fp);
			continue;
		}
		fprintf(o->o_fp, "%-5u %-22s %-22s %8" PRIu64 " %10" PRIu64 " %8" PRIu64
		        " %10" PRIu64 "  %s/%s\n", ci->ci_conn, c, s, ci->ci_frames[0],
		        ci->ci_bytes[0], ci->ci_frames[1], ci->ci_bytes[1], out_end(ci, 0),
		        out_end(ci, 1));
	}
}

static void out_stats_types(acp_out *o)
{
	char tb[16];
	uint64_t frames = 0, bytes = 0;
	int t, r;
	if (!o->o_json)
		fprintf(o->o_fp, "\n%-16s %8s %12s\n", "type", "frames", "bytes");
	for (t = 0; t < 256; t++) {
		for (r = 0; r < 2; r++) {
			const acp_type_count *tc = &o->o_types[t][r];
			const char *name = acp_type_str((unsigned)t, tb, sizeof(tb));
			if (tc->tc_frames == 0)
				continue;
			frames += tc->tc_frames;
			bytes += tc->tc_bytes;
			if (o->o_json)
				fprintf(o->o_fp, "{\"kind\":\"type\",\"type\":\"%s\","
				        "\"type_id\":%d,\"reply\":%s,\"frames\":%" PRIu64
				        ",\"bytes\":%" PRIu64 "}\n",
				        name, t, r ? "true" : "false", tc->tc_frames, tc->tc_bytes);
			else
				fprintf(o->o_fp, "%-10s%-6s %8" PRIu64 " %12" PRIu64 "\n", name,
				        r ? " reply" : "", tc->tc_frames, tc->tc_bytes);
		}
	}
	if (!o->o_json)
		fprintf(o->o_fp, "%-16s %8" PRIu64 " %12" PRIu64 "\n", "total", frames, bytes);
}

void acp_out_stats_print(acp_out *o, const acp_flow_stats *fs)
{
	const char *fmt = o->o_json
		? "{\"kind\":\"packets\",\"packets\":%" PRIu64 ",\"tcp\":%" PRIu64
		  ",\"udp\":%" PRIu64 ",\"udp_other\":%" PRIu64 ",\"skipped\":%" PRIu64
		  ",\"malformed\":%" PRIu64 ",\"dup_bytes\":%" PRIu64 ",\"ooo_segments\":%"
		  PRIu64 ",\"connections\":%" PRIu64 ",\"frames\":%" PRIu64 "}\n"
		: "packets %" PRIu64 " (tcp %" PRIu64 ", udp %" PRIu64 " of which not asyncoro %"
		  PRIu64 ", skipped %" PRIu64 ", malformed %" PRIu64 "); retransmitted bytes %"
		  PRIu64 ", out-of-order segments %" PRIu64 "; connections %" PRIu64
		  ", frames %" PRIu64 "\n\n";
	fprintf(o->o_fp, fmt, fs->fs_packets, fs->fs_tcp, fs->fs_udp, fs->fs_udp_other,
	        fs->fs_skipped, fs->fs_malformed, fs->fs_dup_bytes, fs->fs_ooo_segs,
	        fs->fs_conns, fs->fs_frames);
	out_stats_conns(o);
	out_stats_types(o);
	if (ferror(o->o_fp))
		o->o_err = 1;
}
