/**
 * The kit's kernel properties (kernels.ts) on an `AsyncBackend`, awaited
 * directly, with no tower in between: for a backend's own tests.
 *
 * A property's `call` is written against a synchronous `Backend`. Here it runs
 * first on a stand-in that records the calls it makes (their arguments, with
 * stand-in handles for the inputs and earlier results), and the recorded calls
 * are then made on the asynchronous backend one after the other, each answer
 * awaited before the next call. The checks are those of run.ts's `checkCase`:
 * values within the float32 tolerance of the oracle, inputs unchanged, an
 * earlier result unchanged by a later call, shapes, and `liveCount()` back
 * where it was once every handle is disposed. Cases are drawn with the
 * property's arbitrary (not shrunk: a failure names its parameters).
 */
import fc from 'fast-check';
import type { AsyncBackend, Backend, Handle } from '../../core/backend.ts';
import { Tensor } from '../../core/tensor.ts';
import type { Check, KernelProperty } from './kernels.ts';
import { compare, maxAbsOf, type Tolerance } from './tolerance.ts';

/** A stand-in for a handle or a number, during recording. */
class Token {
  constructor(readonly call: number, readonly field: string | null) {}
}

interface Recorded {
  readonly method: string;
  readonly args: readonly unknown[];
}

/** Records the calls `check.call` makes; returns them and its outputs as tokens. */
const record = (c: Check): { calls: Recorded[]; outputs: readonly unknown[] } => {
  const calls: Recorded[] = [];
  const stand = new Proxy({} as Backend, {
    get: (_t, method: string) => {
      if (method === 'name') return 'recorder';
      return (...args: unknown[]) => {
        const at = calls.length;
        calls.push({ method, args });
        if (method === 'softmaxCrossEntropy') return { probs: new Token(at, 'probs'), dlogits: new Token(at, 'dlogits'), loss: new Token(at, 'loss') };
        if (method === 'sgdUpdate') return { w: new Token(at, 'w'), v: new Token(at, 'v') };
        return new Token(at, null);
      };
    },
  });
  const inputs = c.inputs.map((_, i) => new Token(-1 - i, null));
  return { calls, outputs: c.call(stand, inputs as unknown as Handle[]) };
};

/** Makes the recorded calls on `b`, each awaited; returns the outputs (handles and numbers). */
const replay = async (b: AsyncBackend, calls: readonly Recorded[], outputs: readonly unknown[], inputs: readonly Handle[]): Promise<(Handle | number)[]> => {
  const results: unknown[] = [];
  const resolve = async (v: unknown): Promise<unknown> => {
    if (v instanceof Token) {
      if (v.call < 0) return inputs[-1 - v.call];
      const r = results[v.call] as Record<string, unknown>;
      return v.field === null ? r : await r[v.field];
    }
    if (Array.isArray(v) && v.some((e) => e instanceof Token)) return Promise.all(v.map(resolve));
    return v;
  };
  for (const c of calls) {
    const args = await Promise.all(c.args.map(resolve));
    const method = (b as unknown as Record<string, (...a: unknown[]) => unknown>)[c.method];
    results.push(await method.apply(b, args));
  }
  return (await Promise.all(outputs.map(resolve))) as (Handle | number)[];
};

const sameBits = (a: Tensor, b: Tensor): boolean => a.size === b.size && a.data.every((v, i) => Object.is(v, b.data[i]));

const g = (x: number) => (Number.isFinite(x) ? x.toPrecision(9) : String(x));

/**
 * One check on an asynchronous subject against a synchronous oracle; throws
 * an Error saying what broke the contract. Returns the largest error as a
 * fraction of what the tolerance allows.
 */
export const checkCaseAwaiting = async (subject: AsyncBackend, oracle: Backend, c: Check, opts: { lean?: boolean } = {}): Promise<number> => {
  const lean = opts.lean ?? false;
  const { calls, outputs } = record(c);
  const live0 = await subject.liveCount();
  const copy = (t: Tensor) => Tensor.trusted(t.shape, t.data.slice());
  const hs = await Promise.all(c.inputs.map((t) => subject.upload(copy(t))));
  const out = await replay(subject, calls, outputs, hs);
  const hs2 = lean ? [] : await Promise.all(c.inputs.map((t) => subject.upload(t.map((v) => -0.5 * v))));
  const out2 = lean ? [] : await replay(subject, calls, outputs, hs2);
  const got = await Promise.all(out.map(async (o) => (typeof o === 'number' ? Tensor.trusted([1], Float64Array.of(o)) : subject.download(o))));
  if (!lean) {
    for (let i = 0; i < hs.length; i++) {
      if (!sameBits(await subject.download(hs[i]), c.inputs[i])) throw new Error(`wrote into its input ${i} ${JSON.stringify(c.inputs[i].shape)}`);
    }
  }
  const handles = new Set<Handle>([...hs, ...hs2, ...[...out, ...out2].filter((o): o is Handle => typeof o !== 'number')]);
  for (const h of handles) await subject.dispose(h);
  const left = (await subject.liveCount()) - live0;
  if (left !== 0) throw new Error(`left ${left} device buffer${left === 1 ? '' : 's'} alive after every input and output was disposed`);

  const asTensor = (o: Handle | number): Tensor => (typeof o === 'number' ? Tensor.trusted([1], Float64Array.of(o)) : oracle.download(o));
  const up = (t: Tensor) => oracle.upload(lean ? t : t.as('float64'));
  const want = c.call(oracle, c.inputs.map(up)).map(asTensor);
  const absScale = (which: readonly boolean[] = c.inputs.map(() => true)) =>
    Math.max(...c.call(oracle, c.inputs.map((t, i) => up(which[i] ? t.map(Math.abs) : t))).map((o) => maxAbsOf(asTensor(o))));
  const factor = want.every((t) => t.dtype === 'float64') ? 1 : 2;
  const tols: Tolerance[] = c.tolerance(want, absScale).map((t) => ({ atol: t.atol * factor, rtol: t.rtol * factor }));
  if (got.length !== want.length) throw new Error(`gave ${got.length} outputs, the oracle ${want.length}`);
  let fraction = 0;
  got.forEach((t, i) => {
    if (t.shape.join() !== want[i].shape.join()) throw new Error(`output ${i} has shape [${t.shape}], the oracle's [${want[i].shape}]`);
    const r = compare(t.data, want[i].data, tols[i]);
    if (!r.ok) {
      const at = r.worstAt;
      const allowed = tols[i].atol + tols[i].rtol * Math.abs(want[i].data[at]);
      throw new Error(`output ${i} [${t.shape}] at flat ${at}: ${g(t.data[at])}, the oracle ${g(want[i].data[at])}; |difference| ${Math.abs(t.data[at] - want[i].data[at]).toExponential(3)} > allowed ${allowed.toExponential(3)}: ${Number.isFinite(r.worstRatio) ? `${r.worstRatio.toFixed(2)}x` : 'infinitely far beyond'} the float32 rounding allowance`);
    }
    fraction = Math.max(fraction, r.worstRatio);
  });
  return fraction;
};

export interface AwaitingResult {
  readonly kernel: string;
  readonly ok: boolean;
  readonly cases: number;
  /** Largest error / allowed over the cases that ran (at most 1 passes). */
  readonly worstFraction: number;
  /** The first failure: what broke, and the case's parameters. */
  readonly failure?: string;
  readonly seconds: number;
}

/**
 * A property on an asynchronous subject: `cases` drawn cases (fast-check,
 * `seed`), then the property's fixed cases (`fixed: false` leaves them out).
 * Stops at the first failure.
 */
export const verifyKernelAwaiting = async (subject: AsyncBackend, oracle: Backend, p: KernelProperty, opts: { cases: number; seed: number; fixed?: boolean }): Promise<AwaitingResult> => {
  const t0 = performance.now();
  const drawn = fc.sample(p.arbitrary, { numRuns: opts.cases, seed: opts.seed });
  const all: { params: unknown; lean: boolean; label: string }[] = [
    ...drawn.map((params) => ({ params, lean: false, label: 'drawn' })),
    ...(opts.fixed === false ? [] : (p.fixed ?? []).map((f) => ({ params: f.params, lean: f.lean, label: f.label }))),
  ];
  let worst = 0;
  let ran = 0;
  for (const c of all) {
    ran++;
    try {
      worst = Math.max(worst, await checkCaseAwaiting(subject, oracle, p.check(c.params), { lean: c.lean }));
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      return { kernel: p.kernel, ok: false, cases: ran, worstFraction: worst, failure: `${why}; case (${c.label}): ${JSON.stringify(c.params)}`, seconds: (performance.now() - t0) / 1000 };
    }
  }
  return { kernel: p.kernel, ok: true, cases: ran, worstFraction: worst, seconds: (performance.now() - t0) / 1000 };
};

