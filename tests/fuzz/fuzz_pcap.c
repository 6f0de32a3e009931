/* tests/fuzz/fuzz_pcap.c: fuzz target of acpcap's reading of captures —
 * a pcap or pcapng file (read with libpcap, as `acpcap dump` and `acpcap
 * stats` do, here from memory through fmemopen) whose packets go through
 * the link layers, IPv4/IPv6, TCP reassembly and UDP of
 * tools/acpcap_flow.c, the frame splitter and body decoders of
 * tools/acpcap_proto.c (zlib bodies inflated through net/zip.c), and the
 * printers of tools/acpcap_out.c (text, JSON and the stats tables, into
 * a stream that discards them). Properties, besides surviving any bytes: the counts add up
 * (every packet is TCP, UDP, skipped or malformed; frames are counted as
 * they are handed out). The input is the capture file itself, so any
 * capture is a seed. libpcap's own parsing is exercised but not
 * instrumented (it is a system library).
 */
#include "config.h"

#include <string.h>

#include <pcap/pcap.h>

#include "tests/fuzz/fuzz.h"
#include "tools/acpcap_flow.h"
#include "tools/acpcap_out.h"

/* Three printers fed by one reassembler. */
typedef struct pc_outs {
	acp_out text;
	acp_out json;
	acp_out stats;
	uint64_t items;
} pc_outs;

static void pc_item(void *arg, const acp_item *it)
{
	pc_outs *o = arg;
	o->items++;
	acp_out_dump_item(&o->text, it);
	acp_out_dump_item(&o->json, it);
	acp_out_stats_item(&o->stats, it);
}

static void pc_conn(void *arg, const acp_conn_info *ci)
{
	pc_outs *o = arg;
	fz_check(ci->ci_conn >= 1);
	acp_out_stats_conn(&o->stats, ci);
}

static void pc_read(pcap_t *p, acp_flow *f)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int dlt = pcap_datalink(p), n = 0;
	if (!acp_flow_dlt_ok(dlt))
		return;
	/* Bounded: a capture of the input's size holds few packets. */
	while (n++ < 100000 && pcap_next_ex(p, &h, &data) == 1) {
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec;
		fz_check(acp_flow_packet(f, dlt, ts, data, h->caplen) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	const acp_flow_stats *st;
	FILE *sink, *in;
	pc_outs o;
	acp_flow *f;
	pcap_t *p;
	if (size == 0)
		return 0;
	in = fmemopen((void *)(uintptr_t)data, size, "rb");
	fz_check(in != NULL);
	p = pcap_fopen_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO,
	                                             errbuf);
	if (p == NULL) {
		fclose(in);
		return 0;
	}
	sink = fz_null_file();
	fz_check(sink != NULL);
	memset(&o, 0, sizeof(o));
	fz_check(acp_out_init(&o.text, sink, 0, 300) == 0);
	fz_check(acp_out_init(&o.json, sink, 1, 300) == 0);
	fz_check(acp_out_init(&o.stats, sink, 0, 300) == 0);
	f = acp_flow_new(pc_item, pc_conn, &o);
	fz_check(f != NULL);
	pc_read(p, f);
	pcap_close(p); /* closes in */
	acp_flow_finish(f);
	st = acp_flow_counts(f);
	fz_check(st->fs_tcp + st->fs_udp + st->fs_skipped + st->fs_malformed ==
	         st->fs_packets);
	fz_check(st->fs_frames == o.items);
	acp_out_stats_print(&o.stats, st);
	acp_flow_free(f);
	acp_out_fini(&o.text);
	acp_out_fini(&o.json);
	acp_out_fini(&o.stats);
	fclose(sink);
	return 0;
}
