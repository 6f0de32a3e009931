/* engine/ctx.h: the coroutine context switch.
 *
 * With the assembly switch (x86-64, aarch64) a context is just a saved stack
 * pointer: ac__ctx_switch pushes the callee-saved registers on the current
 * stack, stores the stack pointer, loads the other one and pops. A new
 * context is a stack prepared so that the first switch "returns" into
 * ac__ctx_entry, which calls fn(arg). fn must never return (coroutines end
 * by switching away for good).
 *
 * The ucontext fallback (configure --with-context=ucontext, or any other
 * CPU) uses makecontext/swapcontext: slower (it saves the signal mask with a
 * system call) but portable.
 */
#ifndef AC_ENGINE_CTX_H
#define AC_ENGINE_CTX_H

#include "config.h"

#include <stddef.h>

#if defined(AC_CTX_UCONTEXT)
#include <ucontext.h>
typedef struct ac__ctx {
	ucontext_t uc;
} ac__ctx;
#else
typedef struct ac__ctx {
	/* Saved stack pointer while switched out. */
	void *sp;
} ac__ctx;
#endif

/* Prepare ctx to run fn(arg) on the stack [lo, lo + size) at its first
 * switch-in. fn must not return. */
void ac__ctx_make(ac__ctx *ctx, void *lo, size_t size, void (*fn)(void *),
                  void *arg);

#if defined(AC_CTX_UCONTEXT)
static inline void ac__ctx_swap(ac__ctx *from, ac__ctx *to)
{
	swapcontext(&from->uc, &to->uc);
}
#else
/* Save the current context in *save_sp and continue on new_sp. */
void ac__ctx_switch(void **save_sp, void *new_sp);
static inline void ac__ctx_swap(ac__ctx *from, ac__ctx *to)
{
	ac__ctx_switch(&from->sp, to->sp);
}
#endif

#endif /* AC_ENGINE_CTX_H */
