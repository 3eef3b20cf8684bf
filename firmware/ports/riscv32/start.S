/* RISC-V reset: stack, gp, tp, copy .data, zero .bss, trap vector, main. */
    .section .text.init, "ax"
    .globl _start
_start:
    csrw    mie, zero
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __stack_top
    la      tp, __tls_area      /* thread-local storage (errno of the C library's malloc) */

    la      t0, __data_load
    la      t1, __data_start
    la      t2, __data_end
1:  bgeu    t1, t2, 2f
    lw      t3, 0(t0)
    sw      t3, 0(t1)
    addi    t0, t0, 4
    addi    t1, t1, 4
    j       1b
2:  la      t1, __bss_start
    la      t2, __bss_end
3:  bgeu    t1, t2, 4f
    sw      zero, 0(t1)
    addi    t1, t1, 4
    j       3b
4:  la      t0, trap_handler
    csrw    mtvec, t0
    call    main
5:  wfi
    j       5b
