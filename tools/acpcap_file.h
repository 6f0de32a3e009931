/* tools/acpcap_file.h: records to files and frame numbers, shared by
 * acpcap and acsim — a record's pcap (acpcap pcap; acsim --record writes
 * one per node incarnation), the pcap frame of a record's event, and the
 * parent's side of a replay that names the pcap frame of a divergence
 * (acpcap replay, acsim --replay).
 *
 * The functions read records with the library's reader (io/record.h) and
 * synthesize packets with tools/acpcap_synth.c; they print nothing except
 * where said.
 */
#ifndef AC_TOOLS_ACPCAP_FILE_H
#define AC_TOOLS_ACPCAP_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write the pcap of the record at rec to out (created or truncated):
 * the same bytes as `acpcap pcap REC -o OUT`. A record cut short or
 * corrupt gives the packets of the events before (as acpcap). Returns 0;
 * 1 when the record ended early (the pcap is written); or a negative errno
 * with a line in err (the file may be partly written). */
int acp_file_pcap(const char *rec, const char *out, char *err, size_t len);

/* The pcap frame of event ev of the record at rec, as `acpcap frame`
 * gives it: 1 and *frame = the first frame the event made; 0 and *frame =
 * the last frame before it (0: none) when it made none; a negative errno
 * with a line in err (-ENOENT: the record ends before ev). */
int acp_file_frame_of(const char *rec, uint64_t ev, uint64_t *frame, char *err,
                      size_t len);

/* Before starting a replay whose divergence should name a pcap frame:
 * make a pipe and put its write end in the environment
 * (AC_REPLAY_REPORT_FD), for the replay backend to write the event of a
 * divergence to. Returns the read end (close-on-exec) and *wfd, the write
 * end (the starter closes it after fork), or -1 (then the report names no
 * frame). */
int acp_replay_report_open(int *wfd);

/* Wait for the replay process pid; when it exited with status 3 (diverged)
 * and wrote its event to the pipe rfd (from acp_replay_report_open, -1:
 * none), print to standard error "  pcap frame: F ..." for record rec.
 * Closes rfd. Returns the process's exit status (128 + signal when it was
 * killed, 127 when waiting failed). */
int acp_replay_report_wait(pid_t pid, int rfd, const char *rec);

#endif /* AC_TOOLS_ACPCAP_FILE_H */
