/* engine/ctx.c: preparing a new coroutine context (see ctx.h). For the
 * assembly switch this lays out the initial frame that ac__ctx_switch pops;
 * for ucontext it calls makecontext, passing the pointer argument as two
 * 32-bit halves (makecontext only passes ints portably). */
#include "engine/ctx.h"

#include <stdint.h>
#include <string.h>

#if defined(AC_CTX_UCONTEXT)

static void ctx_uc_entry(unsigned fn_hi, unsigned fn_lo, unsigned arg_hi,
                         unsigned arg_lo)
{
	uintptr_t f = ((uintptr_t)fn_hi << 32) | fn_lo;
	uintptr_t a = ((uintptr_t)arg_hi << 32) | arg_lo;
	void (*fn)(void *) = (void (*)(void *))f;
	fn((void *)a);
	__builtin_trap(); /* fn must never return */
}

void ac__ctx_make(ac__ctx *ctx, void *lo, size_t size, void (*fn)(void *),
                  void *arg)
{
	uintptr_t f = (uintptr_t)fn;
	uintptr_t a = (uintptr_t)arg;
	getcontext(&ctx->uc);
	ctx->uc.uc_stack.ss_sp = lo;
	ctx->uc.uc_stack.ss_size = size;
	ctx->uc.uc_link = NULL;
	makecontext(&ctx->uc, (void (*)(void))ctx_uc_entry, 4,
	            (unsigned)(f >> 32), (unsigned)f, (unsigned)(a >> 32),
	            (unsigned)a);
}

#else

void ac__ctx_entry(void);

void ac__ctx_make(ac__ctx *ctx, void *lo, size_t size, void (*fn)(void *),
                  void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
	/* After the 6 pops and the ret into ac__ctx_entry, rsp must be
	 * 16-byte aligned so that the call inside sees the ABI alignment. */
	uint64_t *sp = (uint64_t *)(top - 16);
	*--sp = (uint64_t)(uintptr_t)ac__ctx_entry; /* ret address */
	*--sp = 0;                                  /* rbp */
	*--sp = 0;                                  /* rbx */
	*--sp = (uint64_t)(uintptr_t)fn;            /* r12 */
	*--sp = (uint64_t)(uintptr_t)arg;           /* r13 */
	*--sp = 0;                                  /* r14 */
	*--sp = 0;                                  /* r15 */
	/* mxcsr default 0x1f80 (low word), x87 control word 0x037f. */
	*--sp = (uint64_t)0x1f80u | ((uint64_t)0x037fu << 32);
	ctx->sp = sp;
#elif defined(__aarch64__)
	uint64_t *frame = (uint64_t *)(top - 176);
	memset(frame, 0, 176);
	frame[0] = (uint64_t)(uintptr_t)fn;            /* x19 */
	frame[1] = (uint64_t)(uintptr_t)arg;           /* x20 */
	frame[11] = (uint64_t)(uintptr_t)ac__ctx_entry; /* x30 */
	ctx->sp = frame;
#else
#error "no assembly context switch for this CPU; configure --with-context=ucontext"
#endif
}

#endif
