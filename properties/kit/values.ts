/**
 * The values the kit feeds kernels: not only comfortable draws from N(0, 1),
 * but the ones that break kernels.
 *
 * - 'normal': N(0, scale^2).
 * - 'ties': N(0, 1) rounded to a grid of scale/2, so exact equal values and
 *   exact zeros are common (max-pooling must route a tied window's gradient to
 *   its first maximum; ReLU's gradient at exactly 0 is 0).
 * - 'sparse': seven values in ten are exactly 0, the rest N(0, scale^2).
 * - 'large': N(0, 10^8): logits of a few 10^4, where a softmax that does not
 *   subtract the row maximum first overflows exp; squares of 10^8 in LRN.
 * - 'tiny': N(0, 10^-60): values around 10^-30, still normal float32 numbers,
 *   where a kernel that adds a fixed epsilon or flushes small values is wrong.
 * - 'subnormal': N(0, 10^-80): values around 10^-40, below float32's smallest
 *   normal number 2^-126; a backend may flush them to 0 (GPUs do), within the
 *   underflow allowance of the tolerances, but must not turn them into NaN or
 *   anything larger.
 *
 * Every value is a float32 number: the backend under test gets them as
 * float32, the oracle the very same numbers as float64.
 */
import fc from 'fast-check';
import { Rng } from '../../core/rng.ts';
import { type Shape, sizeOf, Tensor } from '../../core/tensor.ts';

export const VALUE_KINDS = ['normal', 'ties', 'sparse', 'large', 'tiny', 'subnormal'] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];
/**
 * The kinds for kernels whose result turns on a comparison of their inputs
 * (which value of a pooling window is the largest, whether a ReLU's output is
 * positive): a subnormal input may be read as 0 there, which the contract
 * allows, and would change the decision.
 */
export const DECIDING_KINDS: readonly ValueKind[] = VALUE_KINDS.filter((k) => k !== 'subnormal');

/** What the drawn values are: their kind, their scale and the seed of the draw. */
export interface Values {
  readonly kind: ValueKind;
  /** The spread of 'normal', 'ties' and 'sparse' values; 'large' and 'tiny' set their own. */
  readonly scale: number;
  readonly seed: number;
}

/** The edge a kind of values draws, in words, for failure messages. */
export const EDGE: Readonly<Record<ValueKind, string>> = {
  normal: 'ordinary values',
  ties: 'exact ties and exact zeros',
  sparse: 'mostly exact zeros',
  large: 'large magnitudes (about 1e4)',
  tiny: 'tiny magnitudes (about 1e-30)',
  subnormal: 'subnormal magnitudes (about 1e-40, below 2^-126)',
};

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/**
 * Values of every kind; fast-check shrinks towards the first kind ('normal')
 * and the first scale (1), so a shrunk counterexample keeps an edge kind only
 * when the failure needs it.
 */
export const valuesArb = (kinds: readonly ValueKind[] = VALUE_KINDS): fc.Arbitrary<Values> =>
  fc.record({ kind: fc.constantFrom(...kinds), scale: fc.constantFrom(1, 1e-3, 30), seed });

/**
 * The last few large tensors drawn, by what drew them: the fixed cases of the
 * fully connected kernels draw the same 16.8 M-value weights for three kernels,
 * and drawing them takes longer than checking them. Tensors never change, so
 * sharing one is safe.
 */
const LARGE = 1 << 20;
const drawn = new Map<string, Tensor>();

/** A float32 tensor of `shape` drawn as `v` says; `salt` draws another tensor from the same case. */
export const draw = (shape: Shape, v: Values, salt = 0): Tensor => {
  if (sizeOf(shape) < LARGE) return drawFresh(shape, v, salt);
  const key = JSON.stringify([shape, v, salt]);
  let t = drawn.get(key);
  if (!t) {
    t = drawFresh(shape, v, salt);
    drawn.set(key, t);
    if (drawn.size > 6) drawn.delete(drawn.keys().next().value!);
  }
  return t;
};

const drawFresh = (shape: Shape, v: Values, salt: number): Tensor => {
  // Derived, so that small seeds (fast-check shrinks them towards 0) still draw well-mixed values.
  const rng = new Rng(v.seed).derive(`kit values ${salt}`);
  const d = new Float32Array(sizeOf(shape));
  for (let i = 0; i < d.length; i++) {
    const z = rng.normal();
    switch (v.kind) {
      case 'normal': d[i] = z * v.scale; break;
      case 'ties': d[i] = (Math.round(z * 2) / 2) * v.scale; break;
      case 'sparse': d[i] = rng.bernoulli(0.7) ? 0 : z * v.scale; break;
      case 'large': d[i] = z * 1e4; break;
      case 'tiny': d[i] = z * 1e-30; break;
      case 'subnormal': d[i] = z * 1e-40; break;
    }
  }
  return Tensor.trusted(shape, d);
};

/** Weights: N(0, 1), whatever the data's kind (a kernel sees edge data against ordinary weights). */
export const weights = (shape: Shape, v: Values, salt: number): Tensor => draw(shape, { kind: 'normal', scale: 1, seed: v.seed }, salt);
