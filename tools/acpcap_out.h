/* tools/acpcap_out.h: what `acpcap dump` and `acpcap stats` print — one
 * line per frame (text or JSON), and the tables of counts per connection
 * and per frame type. The printers are the callbacks of acpcap_flow.h.
 */
#ifndef AC_TOOLS_ACPCAP_OUT_H
#define AC_TOOLS_ACPCAP_OUT_H

#include <stdint.h>
#include <stdio.h>

#include "tools/acpcap_flow.h"

/* Longest body text --max-body allows (bodies are at most 4 MiB, and
 * rendering may quadruple them). */
#define ACP_BODY_TEXT_MAX (16u << 20)

/* Counts of one frame type (requests and replies apart). */
typedef struct acp_type_count {
	uint64_t tc_frames;
	uint64_t tc_bytes;
} acp_type_count;

/* The printer's state. */
typedef struct acp_out {
	FILE *o_fp;
	int o_json;
	/* Body text buffer (o_max + 1 bytes). */
	char *o_body;
	size_t o_max;
	/* stats: counts by type (0..255) x reply; connections. */
	acp_type_count o_types[256][2];
	acp_conn_info *o_conns;
	size_t o_nconns;
	size_t o_capconns;
	/* A write or allocation failed. */
	int o_err;
} acp_out;

/* Set up a printer to fp; max_body is the longest body text (0: the
 * longest allowed). Returns 0 or -ENOMEM. */
int acp_out_init(acp_out *o, FILE *fp, int json, size_t max_body);
void acp_out_fini(acp_out *o);

/* acp_item_fn of `dump`: print the frame. */
void acp_out_dump_item(void *arg, const acp_item *it);
/* acp_item_fn and acp_conn_fn of `stats`: count. */
void acp_out_stats_item(void *arg, const acp_item *it);
void acp_out_stats_conn(void *arg, const acp_conn_info *ci);
/* Print the stats tables (after acp_flow_finish). */
void acp_out_stats_print(acp_out *o, const acp_flow_stats *fs);

/* Write s as a JSON string (quotes included): control characters and
 * quotes escaped, valid UTF-8 kept, each invalid byte as U+FFFD. */
void acp_json_str(FILE *fp, const char *s);
/* Write ts_ns as "seconds.nanoseconds" into buf (at least 32 bytes). */
char *acp_time_str(int64_t ts_ns, char *buf, size_t len);

#endif /* AC_TOOLS_ACPCAP_OUT_H */
