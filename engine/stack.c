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
 * A coroutine that runs off its stack hits the guard page (or, with a large
 * local array, memory below it) and the process gets SIGSEGV. So that this
 * is not a bare segfault, the first ac_sched_new of the process installs a
 * SIGSEGV handler -- only when SIGSEGV still has its default action: a
 * program's or a sanitizer's handler is never replaced -- and each thread
 * that creates a scheduler gets an alternate signal stack (unless it has
 * one), since the faulting stack has no room for the handler's frame. The
 * handler writes "stack overflow in coroutine NAME (stack N bytes)" to
 * standard error when the fault is the running coroutine's overflow, and
 * in every case lets the fault happen again with the default action (the
 * process dies of SIGSEGV, with a core dump, as before).
 *
 * Stack memory is acquired through the OS here: this is the engine's single
 * exception to the I/O rule, as memory allocation is not I/O and behaves the
 * same on every backend. The overflow report (sigaction, sigaltstack and a
 * write(2) to standard error from the handler) is the same kind of process
 * plumbing and lives here too.
 */
#include "engine/engine.h"

#include <signal.h>
#include <stdatomic.h>
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
	p->sp_page = stack_page();
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

/* ---- reporting a stack overflow ------------------------------------------ */

/* How far below its stack an overflowing coroutine's stack pointer may be:
 * a large local array moves it past the guard page in one step. */
#define STACK_OVERFLOW_ZONE ((uintptr_t)8 << 20)
/* Size of the alternate signal stack mapped for a thread. */
#define STACK_ALT_SIZE ((size_t)64 << 10)

enum { SEGV_UNDECIDED = 0, SEGV_OURS = 1, SEGV_FOREIGN = 2 };

/* The engine's one mutable global: whether the SIGSEGV handler was
 * installed (SEGV_OURS), or was not because SIGSEGV already had another
 * action (SEGV_FOREIGN). Decided once per process, by the first
 * ac_sched_new; atomic because threads may create schedulers at once. */
static atomic_int stack_segv_state;

/* Per thread (thread-locals are not shared, so not globals in the sense of
 * the rule): the alternate signal stack this file mapped for the thread
 * (NULL when none, also when the thread had one of its own), and how many
 * schedulers created on the thread are alive; the last one's ac_sched_free
 * unmaps the stack. */
static __thread void *stack_alt;
static __thread unsigned stack_alt_users;

/* The interrupted stack pointer, or 0 when this CPU is not known. */
static uintptr_t stack_sig_sp(const void *ucv)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucv;
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	const ucontext_t *uc = ucv;
	return (uintptr_t)uc->uc_mcontext.sp;
#else
	(void)ucv;
	return 0;
#endif
}

/* 1 when a fault at addr with stack pointer sp is coroutine c overflowing
 * its stack: the stack pointer at the stack's last page or below it (within
 * STACK_OVERFLOW_ZONE), or the fault on the guard page (a push or call at
 * the last byte, or a leaf function's red zone). */
static int stack_overflowed(const ac_coro *c, uintptr_t pg, uintptr_t addr,
                            uintptr_t sp)
{
	uintptr_t base = (uintptr_t)c->c_stack;
	uintptr_t lo = base > STACK_OVERFLOW_ZONE ? base - STACK_OVERFLOW_ZONE : 0;
	if (sp != 0 && sp >= lo && sp < base + pg)
		return 1;
	return addr >= base - pg && addr < base;
}

/* Append the C string s (at most max bytes) at *p, not beyond end. */
static void stack_put_str(char **p, char *end, const char *s, size_t max)
{
	size_t i;
	for (i = 0; i < max && s[i] && *p < end; i++)
		*(*p)++ = s[i];
}

/* Append v in decimal (by hand: snprintf is not async-signal-safe). */
static void stack_put_num(char **p, char *end, uint64_t v)
{
	char digits[24];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n > 0 && *p < end)
		*(*p)++ = digits[--n];
}

/* Write the report line to standard error with write(2) only. */
static void stack_report(const ac_sched *s, const ac_coro *c)
{
	char line[320];
	char *p = line, *end = line + sizeof(line);
	const char *q;
	ssize_t w;
	stack_put_str(&p, end, "asyncoro: [", SIZE_MAX);
	stack_put_str(&p, end, s->s_name, sizeof(s->s_name));
	stack_put_str(&p, end, "] stack overflow in coroutine ", SIZE_MAX);
	stack_put_str(&p, end, c->c_name, sizeof(c->c_name));
	stack_put_str(&p, end, " (stack ", SIZE_MAX);
	stack_put_num(&p, end, c->c_stack_size);
	stack_put_str(&p, end, " bytes): give it a larger stack_size "
	              "(ac_spawn_opts or ac_sched_opts)", SIZE_MAX);
	if (p == end)
		p--;
	*p++ = '\n';
	for (q = line; q < p; q += w) {
		w = write(2, q, (size_t)(p - q));
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			return;
	}
}

/* The SIGSEGV handler (SA_RESETHAND: the default action is back on entry).
 * Returning re-runs the faulting instruction, which now ends the process as
 * it would have without us; a SIGSEGV sent by kill() (si_code <= 0) does
 * not come back by itself, so it is raised again (it stays blocked until
 * the handler returns). */
static void stack_segv(int sig, siginfo_t *si, void *ucv)
{
	int saved_errno = errno;
	ac_sched *s = ac__tls_sched;
	ac_coro *c = s ? s->s_cur : NULL;
	if (si->si_code <= 0) {
		raise(sig);
	} else if (c && stack_overflowed(c, s->s_stacks.sp_page,
	                                 (uintptr_t)si->si_addr,
	                                 stack_sig_sp(ucv))) {
		stack_report(s, c);
	}
	errno = saved_errno;
}

/* Install the handler once per process when SIGSEGV has its default
 * action. Returns 1 when the handler is (or is being) installed. */
static int stack_segv_install(void)
{
	struct sigaction old, sa;
	int expect = SEGV_UNDECIDED;
	if (!atomic_compare_exchange_strong(&stack_segv_state, &expect,
	                                    SEGV_OURS))
		return expect == SEGV_OURS;
	if (sigaction(SIGSEGV, NULL, &old) == 0 &&
	    !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = stack_segv;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
		if (sigaction(SIGSEGV, &sa, NULL) == 0)
			return 1;
	}
	atomic_store(&stack_segv_state, SEGV_FOREIGN);
	return 0;
}

/* Give the calling thread an alternate signal stack unless it has one. */
static void stack_alt_setup(void)
{
	stack_t cur, ss;
	void *m;
	if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
		return;
	m = mmap(NULL, STACK_ALT_SIZE, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = m;
	ss.ss_size = STACK_ALT_SIZE;
	if (sigaltstack(&ss, NULL) != 0) {
		munmap(m, STACK_ALT_SIZE);
		return;
	}
	stack_alt = m;
}

void ac__stack_thread_enter(void)
{
	stack_alt_users++;
	if (stack_segv_install() && !stack_alt)
		stack_alt_setup();
}

void ac__stack_thread_leave(void)
{
	stack_t cur, off;
	if (stack_alt_users == 0 || --stack_alt_users > 0 || !stack_alt)
		return;
	if (sigaltstack(NULL, &cur) != 0)
		return;
	if (cur.ss_sp == stack_alt && !(cur.ss_flags & SS_DISABLE)) {
		memset(&off, 0, sizeof(off));
		off.ss_flags = SS_DISABLE;
		if (sigaltstack(&off, NULL) != 0)
			return; /* still in use: keep it */
	}
	/* Ours is no longer the thread's alternate stack (maybe replaced by
	 * the program): nothing can be using it. */
	munmap(stack_alt, STACK_ALT_SIZE);
	stack_alt = NULL;
}
