/**
 * Runs the kernel properties of kernels.ts on a backend under test (the
 * subject) against a backend it is held to (the oracle, the reference unless
 * told otherwise), and says per kernel: how many cases ran, the worst error as
 * a fraction of what the tolerance allows, and a verdict.
 *
 * Each case checks, besides the values:
 * - the kernel does not write into its inputs (read back afterwards, bit for bit);
 * - a later call does not overwrite an earlier result (the kernel runs a second
 *   time on the inputs times -0.5 before the first result is read);
 * - no handle is left alive once the case's handles are disposed (liveCount);
 * - every output has the oracle's shape.
 *
 * A failure is shrunk by fast-check to the smallest case that still fails, and
 * reported with that case's parameters, the worst element (its index, both
 * values, the allowed error) and what replays exactly that case. A kernel the
 * backend lacks is 'missing'; one that throws is 'threw', with the message and
 * its shrunk case; neither stops the other kernels. A kernel the backend says
 * it does not offer (`notOffered`, below: a runtime with no gradients, say) is
 * 'not offered', with the backend's reason: reported, never a failure, and
 * distinct from 'missing', which is a hole in a backend that means to be whole.
 *
 * The oracle is trusted to compute exactly (the reference computes in float64).
 * An oracle that computes in float32 itself carries rounding of its own, so
 * against it every tolerance is doubled.
 */
import fc from 'fast-check';
import type { Backend, Handle } from '../../core/backend.ts';
import { type Shape, Tensor } from '../../core/tensor.ts';
import { BASICS, type Check, type KernelName, type KernelProperty, PROPERTIES } from './kernels.ts';
import { compare, maxAbsOf, type Tolerance } from './tolerance.ts';

export type Verdict = 'pass' | 'fail' | 'missing' | 'threw' | 'not offered';

/**
 * What a backend may declare about kernels it leaves out on purpose: each
 * method of the contract it does not offer, with the reason. The kit reports
 * such a kernel as 'not offered' and does not call it.
 */
export interface NotOffered {
  readonly notOffered?: Readonly<Partial<Record<keyof Backend, string>>>;
}

/** The worst element of a failing output. */
export interface Worst {
  readonly output: number;
  readonly shape: Shape;
  /** Multi-index of the element. */
  readonly index: readonly number[];
  readonly got: number;
  readonly want: number;
  readonly error: number;
  /** atol + rtol |want| there. */
  readonly allowed: number;
  readonly atol: number;
  readonly rtol: number;
}

export interface Counterexample {
  /** The shrunk case's parameters, as drawn. */
  readonly params: unknown;
  /** The fixed case it is, when it is one (not drawn, not shrunk). */
  readonly fixed?: string;
  /** The shapes of the kernel's inputs. */
  readonly inputShapes: readonly Shape[];
  /** The edge of the numbers drawn. */
  readonly edge: string;
  /** What went wrong, in one line. */
  readonly message: string;
  /** For a disagreement in values. */
  readonly worst?: Worst;
}

export interface KernelResult {
  readonly kernel: KernelName;
  readonly verdict: Verdict;
  /** Cases run (drawn, then fixed) until the verdict; for a failure, up to and including the first failing case. */
  readonly cases: number;
  /** Largest error / allowed error over the passing comparisons (at most 1 passes), or of the failure. */
  readonly worstFraction: number;
  /** 'missing': what is missing; 'threw': the message; 'not offered': the backend's reason. */
  readonly detail?: string;
  readonly counterexample?: Counterexample;
  /**
   * What replays the failure: fast-check's seed and the path of the shrunk case
   * (`--seed S --replay PATH` runs exactly it), or for a fixed case the seed alone
   * (the same drawn cases pass again, then the fixed case fails).
   */
  readonly replay?: { readonly seed: number; readonly path?: string };
  /** Shrinking steps taken. */
  readonly shrinks?: number;
  readonly seconds: number;
}

export interface KitOptions {
  /** Kernels to check (default: all). */
  readonly kernels?: readonly KernelName[];
  /** Cases per kernel (default: each property's own count). */
  readonly cases?: number;
  /** Multiplies each property's default count (ignored when `cases` is set). */
  readonly scale?: number;
  /** fast-check seed (default: drawn, and reported). */
  readonly seed?: number;
  /** Replays one case: fast-check's counterexample path (with its seed). */
  readonly replay?: string;
  /** Called after each kernel. */
  readonly onKernel?: (r: KernelResult) => void;
}

// ---- one case ----------------------------------------------------------------------------

/** A case that broke the contract: values, shapes, inputs, leaks. Carries what a report needs. */
export class Disagreement extends Error {
  constructor(message: string, readonly worst?: Worst) {
    super(message);
  }
}

/** The oracle failed: the kit's own problem, never the subject's. */
class OracleFailure extends Error {}

const sameBits = (a: Tensor, b: Tensor): boolean => a.size === b.size && a.data.every((v, i) => Object.is(v, b.data[i]));

const unravel = (flat: number, shape: Shape): number[] => {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
};

const asTensor = (b: Backend, o: Handle | number): Tensor =>
  typeof o === 'number' ? Tensor.trusted([1], Float64Array.of(o)) : b.download(o);

const g = (x: number) => (Number.isFinite(x) ? x.toPrecision(9) : String(x));

export interface CaseOutcome {
  /** Largest error / allowed over the outputs. */
  readonly fraction: number;
}

/**
 * Runs one check on `subject` and `oracle`; throws a `Disagreement` when the
 * subject breaks the contract, and whatever the subject throws when it throws.
 */
export const checkCase = (subject: Backend, oracle: Backend, c: Check, opts: { lean?: boolean } = {}): CaseOutcome => {
  const lean = opts.lean ?? false;
  const live0 = subject.liveCount();
  // Each backend gets its own copy: a host backend may keep the very array it was handed,
  // and a kernel writing into it must not also change the record it is checked against.
  const copy = (t: Tensor) => Tensor.trusted(t.shape, t.data.slice());
  const hs = c.inputs.map((t) => subject.upload(copy(t)));
  const out = c.call(subject, hs);
  const hs2 = lean ? [] : c.inputs.map((t) => subject.upload(t.map((v) => -0.5 * v)));
  const out2 = lean ? [] : c.call(subject, hs2);
  const got = out.map((o) => asTensor(subject, o));
  if (!lean) {
    c.inputs.forEach((t, i) => {
      if (!sameBits(subject.download(hs[i]), t)) throw new Disagreement(`wrote into its input ${i} ${JSON.stringify(t.shape)}`);
    });
  }
  const handles = new Set<Handle>([...hs, ...hs2, ...[...out, ...out2].filter((o): o is Handle => typeof o !== 'number')]);
  for (const h of handles) subject.dispose(h);
  const left = subject.liveCount() - live0;
  if (left !== 0) throw new Disagreement(`left ${left} handle${left === 1 ? '' : 's'} alive after every input and output was disposed`);

  let want: Tensor[];
  let tols: readonly Tolerance[];
  try {
    const up = (t: Tensor) => oracle.upload(lean ? t : t.as('float64'));
    want = c.call(oracle, c.inputs.map(up)).map((o) => asTensor(oracle, o));
    const absScale = (which: readonly boolean[] = c.inputs.map(() => true)) =>
      Math.max(...c.call(oracle, c.inputs.map((t, i) => up(which[i] ? t.map(Math.abs) : t))).map((o) => maxAbsOf(asTensor(oracle, o))));
    const factor = want.every((t) => t.dtype === 'float64') ? 1 : 2;
    tols = c.tolerance(want, absScale).map((t) => ({ atol: t.atol * factor, rtol: t.rtol * factor }));
  } catch (e) {
    throw new OracleFailure(`the oracle ${oracle.name} failed on this case: ${(e as Error).message}`);
  }
  if (got.length !== want.length) throw new Disagreement(`gave ${got.length} outputs, the oracle ${want.length}`);
  let fraction = 0;
  got.forEach((t, i) => {
    if (t.shape.join() !== want[i].shape.join()) throw new Disagreement(`output ${i} has shape [${t.shape}], the oracle's [${want[i].shape}]`);
  });
  got.forEach((t, i) => {
    const r = compare(t.data, want[i].data, tols[i]);
    if (!r.ok) {
      const at = r.worstAt;
      const worst: Worst = {
        output: i, shape: t.shape, index: unravel(at, t.shape), got: t.data[at], want: want[i].data[at],
        error: Math.abs(t.data[at] - want[i].data[at]), allowed: tols[i].atol + tols[i].rtol * Math.abs(want[i].data[at]),
        atol: tols[i].atol, rtol: tols[i].rtol,
      };
      throw new Disagreement(
        `output ${i} [${t.shape}] at [${worst.index}]: ${g(worst.got)}, the oracle ${g(worst.want)}; |difference| ${worst.error.toExponential(3)} > allowed ${worst.allowed.toExponential(3)} (atol ${worst.atol.toExponential(2)} + rtol ${worst.rtol.toExponential(2)} x |oracle|): ${Number.isFinite(r.worstRatio) ? `${r.worstRatio.toFixed(2)}x` : 'infinitely far beyond'} the float32 rounding allowance`,
        worst,
      );
    }
    fraction = Math.max(fraction, r.worstRatio);
  });
  return { fraction };
};

// ---- one kernel --------------------------------------------------------------------------------

const missingOf = (b: Backend, p: KernelProperty): string | null => {
  const lacking = [...BASICS, ...p.methods].filter((m) => typeof (b as unknown as Record<string, unknown>)[m] !== 'function');
  return lacking.length ? `the backend has no ${lacking.map((m) => `${m}()`).join(', ')}` : null;
};

const notOfferedOf = (b: Backend, p: KernelProperty): string | null => {
  const declared = (b as Backend & NotOffered).notOffered;
  if (!declared) return null;
  const reasons = [...new Set(p.methods.map((m) => declared[m]).filter((r): r is string => typeof r === 'string'))];
  return reasons.length ? reasons.join('; ') : null;
};

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** Checks one kernel property; never throws for the subject's faults. */
export const verifyKernel = (subject: Backend, oracle: Backend, p: KernelProperty, opts: KitOptions = {}): KernelResult => {
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  const declined = notOfferedOf(subject, p);
  if (declined) return { kernel: p.kernel, verdict: 'not offered', cases: 0, worstFraction: 0, detail: declined, seconds: 0 };
  const lacking = missingOf(subject, p);
  if (lacking) return { kernel: p.kernel, verdict: 'missing', cases: 0, worstFraction: 0, detail: lacking, seconds: 0 };
  let worst = 0;
  const describeCase = (params: unknown, fixed?: string): Omit<Counterexample, 'message' | 'worst'> => {
    const c = p.check(params);
    return { params, fixed, inputShapes: c.inputs.map((t) => t.shape), edge: c.edge };
  };
  const failure = (e: unknown, params: unknown, fixed?: string): Pick<KernelResult, 'verdict' | 'detail' | 'counterexample'> => {
    if (e instanceof OracleFailure) throw e;
    const ce: Counterexample = { ...describeCase(params, fixed), message: message(e), worst: e instanceof Disagreement ? e.worst : undefined };
    return e instanceof Disagreement
      ? { verdict: 'fail', counterexample: ce }
      : { verdict: 'threw', detail: message(e), counterexample: ce };
  };

  // The drawn cases first, so that a bug they reach is reported shrunk.
  const numRuns = opts.replay !== undefined ? 1 : opts.cases ?? Math.max(1, Math.round(p.cases * (opts.scale ?? 1)));
  let drawn = 0;
  const details = fc.check(
    fc.property(p.arbitrary, (params) => {
      drawn++;
      worst = Math.max(worst, checkCase(subject, oracle, p.check(params)).fraction);
    }),
    { numRuns, seed: opts.seed, path: opts.replay, endOnFailure: false },
  );
  const fractionOf = (r: Pick<KernelResult, 'counterexample'>) => {
    const w = r.counterexample?.worst;
    return w ? (w.allowed > 0 ? w.error / w.allowed : Infinity) : worst;
  };
  if (details.failed) {
    if (details.counterexample === null) {
      return { kernel: p.kernel, verdict: 'threw', cases: details.numRuns, worstFraction: worst, detail: message(details.errorInstance), seconds: seconds() };
    }
    const r = failure(details.errorInstance, (details.counterexample as unknown[])[0]);
    return {
      kernel: p.kernel, cases: details.numRuns, worstFraction: fractionOf(r),
      replay: { seed: details.seed, path: details.counterexamplePath ?? '' }, shrinks: details.numShrinks, seconds: seconds(), ...r,
    };
  }

  // Then the fixed cases, the same every run (a replay of one drawn case skips them).
  let ran = drawn;
  if (opts.replay === undefined) {
    for (const f of p.fixed ?? []) {
      ran++;
      try {
        worst = Math.max(worst, checkCase(subject, oracle, p.check(f.params), { lean: f.lean }).fraction);
      } catch (e) {
        const r = failure(e, f.params, f.label);
        return { kernel: p.kernel, cases: ran, worstFraction: fractionOf(r), replay: { seed: opts.seed ?? details.seed }, seconds: seconds(), ...r };
      }
    }
  }
  return { kernel: p.kernel, verdict: 'pass', cases: ran, worstFraction: worst, seconds: seconds() };
};

/** A fast-check seed for a run that was given none (reported, so the run can be replayed). */
export const drawSeed = (): number => (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 1;

/** Every selected kernel property on `subject` against `oracle`, all with one seed. */
export const verifyKernels = (subject: Backend, oracle: Backend, opts: KitOptions = {}): KernelResult[] => {
  const chosen = PROPERTIES.filter((p) => !opts.kernels || opts.kernels.includes(p.kernel));
  const seed = opts.seed ?? drawSeed();
  return chosen.map((p) => {
    const r = verifyKernel(subject, oracle, p, { ...opts, seed });
    opts.onKernel?.(r);
    return r;
  });
};
