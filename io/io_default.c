/* io/io_default.c: the backend a scheduler gets when its options name none
 * (ac_sched_new with ac_sched_opts.io == NULL) — the epoll backend.
 *
 * The choice lives here, in the io layer, so that the engine calls down
 * through io/io.h and never names a backend: another platform or backend
 * (io_uring) changes this file only.
 */
#include "config.h"

#include "io/io.h"

int ac__io_default_new(ac_io **out)
{
	return ac_io_epoll_new(out);
}

void ac__io_default_free(ac_io *io)
{
	ac_io_epoll_free(io);
}
