/* engine/stack.c: coroutine stacks.
 *
 * Each stack is its own anonymous mapping with a PROT_NONE guard page at the
 * low end, so an overflow faults instead of corrupting a neighbour. Stacks of
 * the scheduler's default size are kept in a free list for reuse (spawn then
 * costs no system call); others are unmapped when their coroutine ends.
 *
 * NOTE: every guard page splits a mapping, and Linux limits a process to
 * vm.max_map_count mappings (65530 by default), so at most ~32,000 guarded
 * stacks could exist at once, and then even plain mmap fails. A pool
 * therefore guards at most AC__GUARD_BUDGET stacks at a time; stacks beyond
 * that (and any stack once mprotect has failed) go without a guard. Plain
 * anonymous mappings next to each other merge into one, so unguarded stacks
 * cost no map slots. sp_unguarded counts them; ac_sched_get_stats reports
 * it, and acbench prints it.
 *
 * Stack memory is acquired through the OS here: this is the engine's single
 * exception to the I/O rule, as memory allocation is not I/O and behaves the
 * same on every backend.
 */
#include "engine/engine.h"

#include <sys/mman.h>

/* Guarded stacks one pool keeps mapped at most (2 map slots each). */
#define AC__GUARD_BUDGET 8192
#include <unistd.h>

#if defined(AC_HAVE_ASAN)
#include <sanitizer/asan_interface.h>
#define STACK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define STACK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static size_t stack_page(void)
{
	static const size_t fallback = 4096;
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : fallback;
}

static size_t stack_round(size_t size)
{
	size_t pg = stack_page();
	if (size < 4 * pg)
		size = 4 * pg;
	return (size + pg - 1) & ~(pg - 1);
}

void ac__stack_pool_init(ac__stack_pool *p, size_t size, int guard, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->sp_size = stack_round(size);
	p->sp_guard = guard ? 1 : 0;
	p->sp_max = max;
}

/* A free stack's list link lives in its top 16 bytes, the page that its
 * coroutine's bookkeeping used: reuse touches no new page. */
static void **stack_link(void *base, size_t size)
{
	return (void **)((char *)base + size - 2 * sizeof(void *));
}

static void stack_unmap(void *base, size_t size, int guarded)
{
	size_t pg = stack_page();
	char *m = (char *)base - (guarded ? pg : 0);
	/* The sanitizer's poison outlives the mapping: a later mmap at the same
	 * address would inherit it. */
	STACK_UNPOISON(base, size);
	munmap(m, size + (guarded ? pg : 0));
}

void ac__stack_pool_fini(ac__stack_pool *p)
{
	while (p->sp_free) {
		void *base = p->sp_free;
		void **link = stack_link(base, p->sp_size);
		int guarded = (int)(uintptr_t)link[1];
		p->sp_free = link[0];
		stack_unmap(base, p->sp_size, guarded);
		p->sp_guarded -= (uint64_t)guarded;
		p->sp_nfree--;
		p->sp_mapped--;
	}
	AC_ASSERT(p->sp_nfree == 0);
}

static int stack_map(ac__stack_pool *p, size_t size, void **base, int *guarded)
{
	size_t pg = stack_page();
	int want_guard = p->sp_guard && !p->sp_guard_failed &&
	                 p->sp_guarded < AC__GUARD_BUDGET;
	size_t total = size + (want_guard ? pg : 0);
	char *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	*guarded = 0;
	if (want_guard) {
		if (mprotect(m, pg, PROT_NONE) == 0) {
			*guarded = 1;
		} else {
			/* Out of map slots: give the page back, go unguarded. */
			munmap(m, pg);
			m += pg;
			p->sp_guard_failed = 1;
		}
	}
	if (p->sp_guard && !*guarded)
		p->sp_unguarded++;
	p->sp_guarded += (uint64_t)*guarded;
	p->sp_mapped++;
	*base = m + (*guarded ? pg : 0);
	return 0;
}

int ac__stack_get(ac__stack_pool *p, size_t size, void **base, size_t *got,
                  int *guarded)
{
	size = size ? stack_round(size) : p->sp_size;
	if (size == p->sp_size && p->sp_free) {
		void *b = p->sp_free;
		void **link = stack_link(b, size);
		STACK_UNPOISON(link, 2 * sizeof(void *));
		p->sp_free = link[0];
		*guarded = (int)(uintptr_t)link[1];
		p->sp_nfree--;
		STACK_UNPOISON(b, size);
		*base = b;
		*got = size;
		return 0;
	}
	*got = size;
	return stack_map(p, size, base, guarded);
}

void ac__stack_put(ac__stack_pool *p, void *base, size_t size, int guarded)
{
	if (size == p->sp_size && p->sp_nfree < p->sp_max) {
		void **link = stack_link(base, size);
		STACK_UNPOISON(link, 2 * sizeof(void *));
		link[0] = p->sp_free;
		link[1] = (void *)(uintptr_t)guarded;
		p->sp_free = base;
		p->sp_nfree++;
		return;
	}
	stack_unmap(base, size, guarded);
	p->sp_guarded -= (uint64_t)guarded;
	p->sp_mapped--;
}
