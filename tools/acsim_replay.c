/* tools/acsim_replay.c: what `acsim --replay RECORD` needs to know from a
 * simulated node's record before replaying it — the acsim command line
 * that made it (the header's arguments) and the notes the simulator wrote
 * when the node's scheduler was created (sim.seed, sim.node,
 * sim.incarnation). The library's record reader (io/record_file.c) is
 * compiled into acsim for this, as into acpcap.
 */
#include "config.h"

#include <zlib.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/record.h"
#include "tools/acsim.h"

/* Notes are written right after the scheduler's first input: give up
 * looking for them after this many events. */
#define ACSIM_NOTES_WITHIN 64

/* One META note into info (the keys it knows). */
static void acsim_note(acsim_rec_info *info, const ac_rec_event *ev)
{
	char key[32], val[64];
	if (ev->dlen >= sizeof(key) || ev->dlen2 >= sizeof(val))
		return;
	memcpy(key, ev->data, ev->dlen);
	key[ev->dlen] = '\0';
	memcpy(val, ev->data2, ev->dlen2);
	val[ev->dlen2] = '\0';
	if (!strcmp(key, "sim.seed")) {
		info->seed = strtoull(val, NULL, 10);
		info->found |= 1;
	} else if (!strcmp(key, "sim.node")) {
		snprintf(info->node, sizeof(info->node), "%s", val);
		info->found |= 2;
	} else if (!strcmp(key, "sim.incarnation")) {
		info->inc = strtoull(val, NULL, 10);
		info->found |= 4;
	}
}

/* The header's arguments, copied into info (argv NULL-terminated). */
static int acsim_copy_argv(acsim_rec_info *info, const ac_rec_header *h)
{
	int i;
	info->argv = calloc((size_t)h->argc + 1, sizeof(*info->argv));
	if (!info->argv)
		return -ENOMEM;
	for (i = 0; i < h->argc; i++)
		if (!(info->argv[i] = strdup(h->argv[i])))
			return -ENOMEM;
	info->argc = h->argc;
	return 0;
}

int acsim_rec_info_read(const char *path, acsim_rec_info *info, char *err, size_t len)
{
	ac_rec_reader *r;
	ac_rec_event ev;
	int rc, i;
	memset(info, 0, sizeof(*info));
	rc = ac__rec_open(path, &r, err, len);
	if (rc < 0)
		return rc;
	if (strcmp(ac__rec_header(r)->backend, "sim") != 0) {
		snprintf(err, len, "%s: a record of a node on the %s backend, not a simulated one "
		         "(acpcap replay runs those)", path, ac__rec_header(r)->backend);
		ac__rec_close(r);
		return -EINVAL;
	}
	rc = acsim_copy_argv(info, ac__rec_header(r));
	for (i = 0; rc == 0 && i < ACSIM_NOTES_WITHIN && info->found != 7; i++) {
		int k = ac__rec_next(r, &ev);
		if (k <= 0)
			break;
		if (ev.kind == AC_REC_META)
			acsim_note(info, &ev);
	}
	ac__rec_close(r);
	if (rc == 0 && info->found != 7) {
		snprintf(err, len, "%s: no sim.seed, sim.node and sim.incarnation notes near its "
		         "start: not written by acsim --record", path);
		rc = -EINVAL;
	}
	if (rc == -ENOMEM)
		snprintf(err, len, "%s: out of memory", path);
	return rc;
}

void acsim_rec_info_free(acsim_rec_info *info)
{
	int i;
	for (i = 0; info->argv && info->argv[i]; i++)
		free(info->argv[i]);
	free(info->argv);
	info->argv = NULL;
}
