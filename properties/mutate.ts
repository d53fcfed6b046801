/**
 * Damage for the readers' fuzz properties (fuzz-*.test.ts): byte-level
 * mutations of a valid file (truncation, flipped bytes, inserted and deleted
 * runs, trailing garbage, length fields overwritten with huge, negative or
 * boundary values), and the checks every reader's answer must pass: a `Left`
 * is one line that names the file, within bounded time and memory.
 *
 * ALEXNET_FUZZ_SCALE multiplies the number of cases (default 1: the suite's
 * budget; 10 or 100 for a longer hunt).
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import * as assert from 'uvu/assert';

export const SCALE = Math.max(0.01, Number(process.env.ALEXNET_FUZZ_SCALE ?? 1) || 1);

/** Cases for one property at the current scale. */
export const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

/** Values that break length and offset fields: boundaries of 8, 16, 32, 53 and 64 bits, and the negative ones as two's complement. */
export const HUGE = [0n, 1n, 2n, 7n, 255n, 256n, 65535n, 65536n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 40n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

export type Mutation =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'flip'; readonly at: number; readonly xor: number }
  | { readonly kind: 'set'; readonly at: number; readonly byte: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly length: number }
  | { readonly kind: 'append'; readonly bytes: Uint8Array }
  | { readonly kind: 'field'; readonly at: number; readonly width: 2 | 4 | 8; readonly little: boolean; readonly value: bigint };

/** Positions are fractions of the file's length, so one arbitrary serves files of any size; `fields` are offsets of known length fields, hit more often. */
export const mutationArb = (fields: readonly number[] = []): fc.Arbitrary<Mutation> => {
  const pos = fc.double({ min: 0, max: 1, noNaN: true });
  const garbage = fc.uint8Array({ minLength: 1, maxLength: 40 });
  const at = fields.length > 0 ? fc.oneof(pos, fc.constantFrom(...fields)) : pos;
  return fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: pos }),
    fc.record({ kind: fc.constant('flip' as const), at: pos, xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('set' as const), at, byte: fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x0a, 0x2d, 0x30, 0x39) }),
    fc.record({ kind: fc.constant('insert' as const), at: pos, bytes: garbage }),
    fc.record({ kind: fc.constant('delete' as const), at: pos, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), at: pos, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('append' as const), bytes: garbage }),
    fc.record({
      kind: fc.constant('field' as const), at, width: fc.constantFrom(2 as const, 4 as const, 8 as const), little: fc.boolean(),
      value: fc.oneof(fc.constantFrom(...HUGE), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    }),
  );
};

const place = (at: number, length: number) => (at >= 1 && Number.isInteger(at) ? at : Math.floor(at * length));

/** Applies one mutation; the input is left alone. */
export const mutate = (buf: Uint8Array, m: Mutation): Uint8Array => {
  const n = buf.length;
  const i = Math.min(place('at' in m ? m.at : 0, n), n);
  switch (m.kind) {
    case 'truncate':
      return buf.slice(0, i);
    case 'flip':
    case 'set': {
      if (n === 0) return buf.slice();
      const out = buf.slice();
      const j = Math.min(i, n - 1);
      out[j] = m.kind === 'flip' ? out[j] ^ m.xor : m.byte;
      return out;
    }
    case 'insert':
      return concat(buf.subarray(0, i), m.bytes, buf.subarray(i));
    case 'delete':
      return concat(buf.subarray(0, i), buf.subarray(Math.min(n, i + m.length)));
    case 'duplicate':
      return concat(buf.subarray(0, Math.min(n, i + m.length)), buf.subarray(i));
    case 'append':
      return concat(buf, m.bytes);
    case 'field': {
      const out = buf.slice();
      const j = Math.min(i, Math.max(0, n - m.width));
      if (j + m.width > n) return out;
      const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
      const x = m.value & ((1n << BigInt(8 * m.width)) - 1n);
      if (m.width === 2) v.setUint16(j, Number(x), m.little);
      else if (m.width === 4) v.setUint32(j, Number(x), m.little);
      else v.setBigUint64(j, x, m.little);
      return out;
    }
  }
};

export const mutateAll = (buf: Uint8Array, ms: readonly Mutation[]): Uint8Array => ms.reduce(mutate, buf);

export const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};

/** One to three mutations in a row. */
export const mutationsArb = (fields?: readonly number[]) => fc.array(mutationArb(fields), { minLength: 1, maxLength: 3 });

/** Longest message a reader may give: a line a person reads, not a dump of the file. */
export const MAX_MESSAGE = 600;

/** A refusal as the CLI prints it: one line, naming `what`, no stack trace, not a dump of the file. */
export const assertOneLine = (message: string, what: string, context: string): void => {
  assert.ok(!/[\n\r\u2028\u2029]/.test(message), `${context}: the message spans lines: ${JSON.stringify(message)}`);
  assert.ok(message.includes(what), `${context}: the message does not name ${what}: ${JSON.stringify(message)}`);
  assert.ok(message.length <= MAX_MESSAGE, `${context}: a ${message.length}-character message: ${JSON.stringify(message.slice(0, 300))}...`);
  assert.ok(!/\n\s+at /.test(message), `${context}: a stack trace`);
};

/** Time and memory a reader may spend on one small damaged file. */
export const MAX_MS = 2000;

/**
 * Calls a reader, failing (with the case) when it throws, takes longer than
 * MAX_MS, or leaves more than `slack` bytes plus a few times the input's
 * size of array buffers allocated (a header's claimed length must not be
 * allocated before it is checked against the file).
 */
export const guarded = <A>(context: string, size: number, read: () => A, slack = 4 * size + (1 << 20)): A => {
  const start = begin();
  let out: A;
  try {
    out = read();
  } catch (e) {
    throw threw(context, e);
  }
  return end(start, context, size, slack, out);
};

/** `guarded` for a reader that answers with a promise (images), with more slack for the decoder's own buffers. */
export const guardedAsync = async <A>(context: string, size: number, read: () => Promise<A>, slack = 4 * size + (8 << 20)): Promise<A> => {
  const start = begin();
  let out: A;
  try {
    out = await read();
  } catch (e) {
    throw threw(context, e);
  }
  return end(start, context, size, slack, out);
};

const begin = () => ({ before: process.memoryUsage().arrayBuffers, t0: performance.now() });
const threw = (context: string, e: unknown) => new Error(`${context}: threw ${(e as Error)?.stack ?? String(e)}`);
const end = <A>(start: ReturnType<typeof begin>, context: string, size: number, slack: number, out: A): A => {
  const ms = performance.now() - start.t0;
  const grew = process.memoryUsage().arrayBuffers - start.before;
  assert.ok(ms < MAX_MS, `${context}: took ${ms.toFixed(0)} ms`);
  assert.ok(grew <= slack, `${context}: ${grew} bytes of array buffers still allocated after reading ${size} bytes`);
  return out;
};

/** A `Left`'s message passes `assertOneLine`; a `Right` is handed to `check`. */
export const judge = <L extends { message: string }, A>(r: E.Either<L, A>, what: string, context: string, check: (a: A) => void): 'left' | 'right' => {
  if (E.isLeft(r)) {
    assertOneLine(r.left.message, what, context);
    return 'left';
  }
  check(r.right);
  return 'right';
};

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
