/**
 * Shared pieces of the property suite: seeded random tensors, closeness checks,
 * and central finite differences.
 */
import * as E from 'fp-ts/lib/Either.js';
import { Rng } from '../core/rng.ts';
import { type DType, type Shape, sizeOf, Tensor } from '../core/tensor.ts';

/** A tensor of N(0, scale^2) values from a seed. */
export const randn = (shape: Shape, seed: number, scale = 1, dtype: DType = 'float64'): Tensor => {
  const rng = new Rng(seed);
  const t = Tensor.zeros(shape, dtype);
  return t.map(() => rng.normal(0, scale));
};

/**
 * Values whose pairwise gaps are all at least `gap` and that stay at least
 * gap/2 away from zero: finite differences with steps far below the gap never
 * cross a kink of max or ReLU.
 */
export const separated = (shape: Shape, seed: number, gap = 1e-2): Tensor => {
  const n = sizeOf(shape);
  const order = new Rng(seed).permutation(n);
  return Tensor.zeros(shape, 'float64').map((_, i) => (order[i] - Math.floor(n / 2) + 0.5) * gap);
};

export const right = <A>(e: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left: ${e.left.message}`);
  return e.right;
};

export const dot = (a: Tensor, b: Tensor): number => {
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i] * b.data[i];
  return s;
};

/** The largest elementwise error relative to the larger magnitude of the pair (floored). */
export const maxRelError = (a: Tensor, b: Tensor, floor = 1e-8): number => {
  let worst = 0;
  for (let i = 0; i < a.size; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    worst = Math.max(worst, d / Math.max(Math.abs(a.data[i]), Math.abs(b.data[i]), floor));
  }
  return worst;
};

export const assertClose = (actual: Tensor, expected: Tensor, rel: number, what: string, floor = 1e-8): void => {
  if (actual.size !== expected.size) throw new Error(`${what}: ${actual.size} values, expected ${expected.size}`);
  const e = maxRelError(actual, expected, floor);
  if (!(e < rel)) throw new Error(`${what}: relative error ${e.toExponential(3)} exceeds ${rel}`);
};

/**
 * Central finite differences of a scalar function, one coordinate of x at a
 * time: (f(x + h e_i) - f(x - h e_i)) / 2h.
 */
export const numericGradient = (f: (x: Tensor) => number, x: Tensor, h = 1e-6): Tensor => {
  const g = new Float64Array(x.size);
  const data = Float64Array.from(x.data);
  for (let i = 0; i < x.size; i++) {
    const v = data[i];
    data[i] = v + h;
    const up = f(Tensor.trusted(x.shape, Float64Array.from(data)));
    data[i] = v - h;
    const down = f(Tensor.trusted(x.shape, Float64Array.from(data)));
    data[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return Tensor.trusted(x.shape, g);
};

/** A copy of a tensor's values, to check later that nothing wrote into it. */
export const snapshot = (t: Tensor): Float64Array => Float64Array.from(t.data);

export const unchanged = (t: Tensor, before: Float64Array): boolean =>
  t.size === before.length && t.data.every((v, i) => Object.is(v, before[i]));
