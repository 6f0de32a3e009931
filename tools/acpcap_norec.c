/* tools/acpcap_norec.c: TEMPORARY stand-in for tools/acpcap_rec.c until the
 * record reader (io/record_file.c) is in the tree: every FILE is taken for
 * a capture, and commands that need a record say that records cannot be
 * read yet.
 */
#include "config.h"

#include <stdio.h>

#include "tools/acpcap.h"

int acp_rec_open(const char *path, acp_rec **out)
{
	(void)out;
	(void)path;
	return 0;
}

const ac_rec_header *acp_rec_header(const acp_rec *r)
{
	(void)r;
	return NULL;
}

int acp_rec_walk(acp_rec *r, acp_emit_fn emit, void *arg, acp_rec_event_fn fn,
                 void *fn_arg)
{
	return -1;
}

void acp_rec_close(acp_rec *r)
{
}
