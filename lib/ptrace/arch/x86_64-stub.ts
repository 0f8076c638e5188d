/**
 * The remote-call stub's machine code for x86-64 and the layout of the
 * mapping it runs in (remote-stub.ts maps it and drives it; what the code
 * does is written out below in GNU as, and its offsets into the data page
 * are the Layout's).
 */
import type { StubImage } from './stub-image';

/**
 * The code (x86-64, position independent; GNU as source in its comment).
 *   0x000 entry: lea data(%rip),%rbx; mov (%rbx),%r13                count
 *                lea 8(%rbx),%r12; lea 0x7000(%rbx),%r14; xor %r15d,%r15d
 *         1:     cmp %r13,%r15; jae 9f
 *                mov (%r12),%rax; mov 8(%r12),%rdi
 *                cmp $-2,%rax; je 5f; cmp $-3,%rax; je 6f        touches, not calls
 *                mov 16..48(%r12),%rsi,%rdx,%r10,%r8,%r9; syscall
 *         2:     mov %rax,(%r14,%r15,8); add $56,%r12; inc %r15
 *                mov %r15,0x7ff8(%rbx); jmp 1b                    records done
 *         5:     movzbl (%rdi),%eax; xor %eax,%eax; jmp 2b        read a byte
 *         6:     movzbl (%rdi),%eax; mov %al,(%rdi); xor %eax,%eax; jmp 2b   write it back
 *         9:     int3                                             batch done (pc 0x72)
 *   0x100 handler (SIGSEGV/SIGBUS, SA_SIGINFO): lea data(%rip),%rbx
 *                signo, si_code (8(%rsi)), si_addr (16(%rsi)), and from the
 *                ucontext's sigcontext (%rdx + 40) err [19], trapno [20], rip [16]
 *                into 0x7f00(%rbx)..0x7f28(%rbx); int3          fault told (pc 0x14f)
 *   0x180 restorer: mov $15,%eax; syscall                         rt_sigreturn (never reached: the tracer takes over)
 *   0x200 park: lea data(%rip),%rbx; xor %r12d,%r12d              r12d: the last request done
 *         3:     mov 0x7fe0(%rbx),%eax; cmp %r12d,%eax; jne 4f    a new request?
 *                futex(0x7fe0(%rbx), FUTEX_WAIT, %r12d, NULL); jmp 3b
 *         4:     mov %eax,%r12d; cmp $-1,%eax; je 8f             -1: leave
 *                the records, as at entry (record pointer in %rbp)
 *                mov %r12d,0x7fe4(%rbx); futex(0x7fe4(%rbx), FUTEX_WAKE, 1); jmp 3b   answered
 *         8:     int3                                             unparked (pc 0x29b)
 * Nothing touches the thread's own stack: the stub has its own.
 */
const CODE = Buffer.from(
  '488d1df90f00004c8b2b4c8d63084c8db3007000004531ff4d39ef7354498b0424498b7c24084883f8fe74354883f8fd7436498b742410498b5424184d8b5424204d8b4424284d8b4c24300f054b8904fe4983c43849ffc74c89bbf87f0000ebb70fb60731c0ebe50fb607880731c0ebdccc' +
    '00'.repeat(0x100 - 0x72) +
    '488d1df90e00004889bb007f000048634608488983087f0000488b4610488983107f0000488b82c0000000488983187f0000488b82c8000000488983207f0000488b82a8000000488983287f0000cc' +
    '00'.repeat(0x180 - 0x14f) +
    'b80f0000000f05' +
    '00'.repeat(0x200 - 0x187) +
    '488d1df90d00004531e48b83e07f00004439e07518488dbbe07f000031f64489e24531d2b8ca0000000f05ebdd4189c483f8ff74654c8b2b488d6b084c8db3007000004531ff4d39ef732b488b4500488b7d08488b7510488b55184c8b55204c8b45284c8b4d300f054b8904fe4883c53849ffc7ebd04489a3e47f0000488dbbe47f0000be01000000ba01000000b8ca0000000f05e970ffffffcc',
  'hex',
);

export const x86_64Stub: StubImage = {
  code: CODE,
  entry: { batch: 0x0, handler: 0x100, restorer: 0x180, park: 0x200 },
  // Where the pc is after the int3 that ends a batch, the fault handler and the parked loop.
  end: { batch: 0x72, fault: 0x14f, park: 0x29b },
  touch: { read: -2, write: -3 },
  layout: {
    size: 0x10000,
    data: 0x1000,
    records: 0x1008,
    record: 56,
    scratch: 0x7000,
    scratchSize: 0xf00,
    sigactions: 0x7f00,
    results: 0x8000,
    fault: 0x8f00,
    request: 0x8fe0,
    answer: 0x8fe4,
    done: 0x8ff8,
    stackTop: 0x10000,
  },
};
