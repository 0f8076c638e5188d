/**
 * gdb's agent expressions (GDB manual, "Agent Expressions", "Bytecode
 * Descriptions"): the bytecode of a target-side breakpoint condition, run in
 * the server so that a false condition never costs a round trip to gdb.
 * Values are 64-bit; operands are big-endian. Hostile bytecode gets an
 * AgentError (bad opcode, stack underflow, runaway loop), never a hang.
 */

export interface AgentContext {
  register(regno: number): bigint;
  /** `size` bytes at `address`, little-endian; throws if unreadable. */
  memory(address: bigint, size: number): bigint;
  /** The `printf` bytecode (dprintf-style agent): absent where printing means nothing (conditions). */
  printf?(format: string, args: bigint[]): void;
  /**
   * A tracepoint's collection (the trace bytecodes): `size` bytes at
   * `address` into the trace frame; with `untilNul`, only up to the first
   * NUL (tracenz). Absent where nothing is collected: the bytecodes are then no-ops.
   */
  collect?(address: bigint, size: number, untilNul: boolean): void;
  /** Trace state variables (getv, setv, tracev): absent outside tracepoints, where using one is an error. */
  variables?: AgentVariables;
}

/** gdb's trace state variables as the bytecode sees them (GDB manual, "Trace State Variables"). */
export interface AgentVariables {
  get(n: number): bigint;
  set(n: number, value: bigint): void;
  /** Records the variable's value in the trace frame (tracev). */
  collect(n: number): void;
}

/** A register's or memory's bytes as the value the bytecode works on: little-endian, the first 8 bytes at most. */
export function littleEndianValue(bytes: Buffer): bigint {
  if (bytes.length >= 8) return bytes.readBigUInt64LE(0);
  return bytes.length ? BigInt(bytes.readUIntLE(0, bytes.length)) : 0n;
}

export class AgentError extends Error {
  override name = 'AgentError';
}

/**
 * Whether `err` says the expression could not be evaluated in this stop
 * (bytecode we cannot run, registers or memory we cannot read), as opposed
 * to a bug of ours: the caller then falls back (gdb decides a condition; a
 * command is skipped; a trace run stops with an error).
 */
export function evaluationFailed(err: unknown): boolean {
  return (
    err instanceof AgentError ||
    err instanceof RangeError ||
    err instanceof TypeError ||
    (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string')
  );
}

const MAX_STEPS = 100_000;
const MAX_STACK = 1024;

const mask = (v: bigint) => BigInt.asUintN(64, v);
const signed = (v: bigint) => BigInt.asIntN(64, v);

/** Runs the expression; the value left on top of the stack, as gdb's condition result. */
export function evaluate(code: Buffer, ctx: AgentContext): bigint {
  const stack: bigint[] = [];
  const pop = (): bigint => {
    const v = stack.pop();
    if (v === undefined) throw new AgentError('stack underflow');
    return v;
  };
  const push = (v: bigint) => {
    if (stack.length >= MAX_STACK) throw new AgentError('stack overflow');
    stack.push(mask(v));
  };
  const operand = (at: number, size: number): bigint => {
    if (at + size > code.length) throw new AgentError('operand past the end');
    let v = 0n;
    for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(code[at + i]!);
    return v;
  };
  const binary = (f: (a: bigint, b: bigint) => bigint) => {
    const b = pop();
    const a = pop();
    push(f(a, b));
  };
  let pc = 0;
  for (let steps = 0; ; steps++) {
    if (steps > MAX_STEPS) throw new AgentError('too many steps');
    if (pc >= code.length) throw new AgentError('ran off the end');
    const op = code[pc++]!;
    switch (op) {
      case 0x02:
        binary((a, b) => a + b);
        break; // add
      case 0x03:
        binary((a, b) => a - b);
        break; // sub
      case 0x04:
        binary((a, b) => a * b);
        break; // mul
      case 0x05:
        binary((a, b) => {
          if (!b) throw new AgentError('division by zero');
          return signed(a) / signed(b);
        });
        break;
      case 0x06:
        binary((a, b) => {
          if (!b) throw new AgentError('division by zero');
          return a / b;
        });
        break;
      case 0x07:
        binary((a, b) => {
          if (!b) throw new AgentError('division by zero');
          return signed(a) % signed(b);
        });
        break;
      case 0x08:
        binary((a, b) => {
          if (!b) throw new AgentError('division by zero');
          return a % b;
        });
        break;
      case 0x09:
        binary((a, b) => a << (b & 63n));
        break; // lsh
      case 0x0a:
        binary((a, b) => signed(a) >> (b & 63n));
        break; // rsh_signed
      case 0x0b:
        binary((a, b) => a >> (b & 63n));
        break; // rsh_unsigned
      case 0x0e:
        push(pop() === 0n ? 1n : 0n);
        break; // log_not
      case 0x0f:
        binary((a, b) => a & b);
        break;
      case 0x10:
        binary((a, b) => a | b);
        break;
      case 0x11:
        binary((a, b) => a ^ b);
        break;
      case 0x12:
        push(~pop());
        break; // bit_not
      case 0x13:
        binary((a, b) => (a === b ? 1n : 0n));
        break; // equal
      case 0x14:
        binary((a, b) => (signed(a) < signed(b) ? 1n : 0n));
        break; // less_signed
      case 0x15:
        binary((a, b) => (a < b ? 1n : 0n));
        break; // less_unsigned
      case 0x16: {
        // ext n: sign-extend from n bits
        const n = Number(operand(pc, 1));
        pc += 1;
        if (n > 0 && n < 64) push(BigInt.asIntN(n, pop()));
        break;
      }
      case 0x2a: {
        // zero_ext n
        const n = Number(operand(pc, 1));
        pc += 1;
        if (n < 64) push(BigInt.asUintN(n, pop()));
        break;
      }
      case 0x17:
        push(ctx.memory(pop(), 1));
        break; // ref8
      case 0x18:
        push(ctx.memory(pop(), 2));
        break;
      case 0x19:
        push(ctx.memory(pop(), 4));
        break;
      case 0x1a:
        push(ctx.memory(pop(), 8));
        break;
      case 0x20: {
        // if_goto
        const target = Number(operand(pc, 2));
        pc = pop() !== 0n ? target : pc + 2;
        break;
      }
      case 0x21:
        pc = Number(operand(pc, 2));
        break; // goto
      case 0x22:
        push(operand(pc, 1));
        pc += 1;
        break;
      case 0x23:
        push(operand(pc, 2));
        pc += 2;
        break;
      case 0x24:
        push(operand(pc, 4));
        pc += 4;
        break;
      case 0x25:
        push(operand(pc, 8));
        pc += 8;
        break;
      case 0x26:
        push(ctx.register(Number(operand(pc, 2))));
        pc += 2;
        break; // reg
      case 0x27:
        return stack.length ? stack[stack.length - 1]! : 0n; // end
      case 0x28: {
        const v = pop();
        push(v);
        push(v);
        break;
      } // dup
      case 0x29:
        pop();
        break; // pop
      case 0x2b: {
        const b = pop();
        const a = pop();
        push(b);
        push(a);
        break;
      } // swap
      case 0x32: {
        // pick n
        const n = Number(operand(pc, 1));
        pc += 1;
        const v = stack[stack.length - 1 - n];
        if (v === undefined) throw new AgentError('pick past the bottom of the stack');
        push(v);
        break;
      }
      case 0x33: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(b);
        push(c);
        push(a);
        break;
      } // rot
      case 0x34: {
        // printf nargs, a 16-bit length, the format (its NUL counted); pops the function and the
        // channel (0: the server's own output), then the arguments, the first on top.
        const nargs = Number(operand(pc, 1));
        const length = Number(operand(pc + 1, 2));
        const start = pc + 3;
        if (start + length > code.length) throw new AgentError('printf format past the end');
        const format = code.toString('latin1', start, code[start + length - 1] === 0 ? start + length - 1 : start + length);
        pc = start + length;
        pop();
        pop();
        const args: bigint[] = [];
        for (let i = 0; i < nargs; i++) args.push(pop());
        if (!ctx.printf) throw new AgentError('printf where nothing prints');
        ctx.printf(format, args);
        break;
      }
      case 0x0c: {
        // trace: addr size =>
        const size = pop();
        const address = pop();
        ctx.collect?.(address, Number(BigInt.asUintN(32, size)), false);
        break;
      }
      case 0x0d: {
        // trace_quick n: addr => addr
        const address = stack[stack.length - 1];
        if (address === undefined) throw new AgentError('stack underflow');
        ctx.collect?.(address, Number(operand(pc, 1)), false);
        pc += 1;
        break;
      }
      case 0x30: {
        // trace16 n: addr => addr
        const address = stack[stack.length - 1];
        if (address === undefined) throw new AgentError('stack underflow');
        ctx.collect?.(address, Number(operand(pc, 2)), false);
        pc += 2;
        break;
      }
      case 0x2f: {
        // tracenz: addr size =>
        const size = pop();
        const address = pop();
        ctx.collect?.(address, Number(BigInt.asUintN(32, size)), true);
        break;
      }
      case 0x2c:
        push(variables(ctx).get(Number(operand(pc, 2))));
        pc += 2;
        break; // getv n: => v
      case 0x2d: {
        // setv n: v => v
        const v = stack[stack.length - 1];
        if (v === undefined) throw new AgentError('stack underflow');
        variables(ctx).set(Number(operand(pc, 2)), v);
        pc += 2;
        break;
      }
      case 0x2e:
        // tracev n: =>
        if (ctx.collect) variables(ctx).collect(Number(operand(pc, 2)));
        pc += 2;
        break;
      default:
        throw new AgentError(`unsupported bytecode 0x${op.toString(16)} at ${pc - 1}`);
    }
  }
}

function variables(ctx: AgentContext): AgentVariables {
  if (!ctx.variables) throw new AgentError('trace state variables outside a tracepoint');
  return ctx.variables;
}
