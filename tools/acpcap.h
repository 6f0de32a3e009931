/* tools/acpcap.h: what the files of acpcap share — reading records
 * (tools/acpcap_rec.c, over the library's reader in io/record.h). The
 * other modules have their own headers: acpcap_synth.h (records to
 * packets), acpcap_flow.h (packets to frames), acpcap_proto.h (frames),
 * acpcap_out.h (printing).
 */
#ifndef AC_TOOLS_ACPCAP_H
#define AC_TOOLS_ACPCAP_H

#include <stdint.h>

#include "io/record.h"
#include "tools/acpcap_synth.h"

/* Exit codes (documented in `acpcap --help`). */
enum {
	ACP_EXIT_OK = 0,
	ACP_EXIT_USAGE = 1,
	ACP_EXIT_INPUT = 2,
	ACP_EXIT_NOEXEC = 127
};

typedef struct acp_rec acp_rec;

/* Called for each event after the synthesizer saw it; a non-zero return
 * stops the walk (acp_rec_walk then returns 1). */
typedef int (*acp_rec_event_fn)(void *arg, const ac_rec_event *e,
                                const acp_synth *s);

/* Open path as a record. Returns 1 and *out when it is one; 0 when it is
 * not a record at all (the caller may try it as a pcap); -1 after printing
 * one error line "acpcap: PATH: ..." (it is a record, but unreadable). */
int acp_rec_open(const char *path, acp_rec **out);
/* The record's header. */
const ac_rec_header *acp_rec_header(const acp_rec *r);
/* Feed every event to a synthesizer emitting through emit(arg), calling fn
 * (may be NULL) after each. Returns 0 at the record's clean end, 1 when fn
 * stopped the walk, -1 after printing one error line (truncated or corrupt
 * record: the events before were fed; out of memory). */
int acp_rec_walk(acp_rec *r, acp_emit_fn emit, void *arg, acp_rec_event_fn fn,
                 void *fn_arg);
void acp_rec_close(acp_rec *r);

#endif /* AC_TOOLS_ACPCAP_H */
