/* engine/ctx_x86_64.S: coroutine context switch for x86-64 (System V ABI).
 *
 * void ac__ctx_switch(void **save_sp, void *new_sp)
 *   Pushes the callee-saved registers (rbp, rbx, r12-r15) and the SSE/x87
 *   control words, stores rsp in *save_sp, switches to new_sp and pops the
 *   same frame from there, then returns on the new stack.
 *
 * ac__ctx_entry: where a new context first "returns" to; r12 holds the
 *   function and r13 its argument (placed there by ac__ctx_make).
 */
	.text
	.globl	ac__ctx_switch
	.hidden	ac__ctx_switch
	.type	ac__ctx_switch, @function
	.p2align 4
ac__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	ac__ctx_switch, .-ac__ctx_switch

	.globl	ac__ctx_entry
	.hidden	ac__ctx_entry
	.type	ac__ctx_entry, @function
	.p2align 4
ac__ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	ac__ctx_entry, .-ac__ctx_entry

	.section .note.GNU-stack,"",@progbits
