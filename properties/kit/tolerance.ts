/**
 * The one place the gpu.js-vs-reference tolerances are defined.
 *
 * A gpu.js kernel computes in float32; the reference computes the same sums in
 * float64. They are compared elementwise with the mixed test
 *
 *     |a - b| <= atol + rtol * |b|          (a: gpu.js, b: reference)
 *
 * where the tolerance follows from float32 rounding, not from trial and error:
 *
 * - rtol. A float32 sum of L terms carries rounding errors that grow like
 *   sqrt(L) unit roundoffs (each partial sum rounds once, with random sign), so
 *   rtol = C_SUM * U32 * sqrt(L) for a kernel whose outputs each sum L terms.
 *   C_SUM is a safety factor for the constant in front, the same for every
 *   kernel. Each exp, log or pow adds a fixed number of ulps (TRANSCENDENTAL_ULPS):
 *   GLSL and wasm's libm are not correctly rounded.
 * - atol. Rounding errors scale with the size of the terms, not of their sum:
 *   a sum that cancels to nearly 0 still carries the error of its big terms. So
 *   atol = rtol * scale, where `scale` is the largest sum of |terms| over the
 *   outputs (for a multilinear kernel: the reference kernel run on |inputs|),
 *   or the largest |output| where that is the natural size.
 * - A chain of kernels (the whole network) adds its kernels' errors: its rtol
 *   sums C_SUM * U32 * sqrt(L) over every reduction a value passes through,
 *   forward and backward (`networkTolerances`, used by the whole-network property and `alexnet verify`).
 *
 * - Underflow. float32 holds nothing below 2^-126 reliably (subnormals may be
 *   flushed to zero): atol also allows UNDERFLOW per term of the reduction.
 * - A power base^e adds |e log2 base| roundoffs more (`powRtol`): its argument's
 *   rounding, magnified.
 *
 * Nothing here is tuned per kernel: a kernel that needs more than this is wrong.
 */
import { type LayerInfo, type NetSpec, describe, groupsOf } from '../../core/alexnet.ts';
import { orThrow } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';

/** Unit roundoff of float32 (half an ulp of 1). */
export const U32 = 2 ** -24;
/**
 * The smallest normal float32, 2^-126. A float32 result below it underflows
 * (to a subnormal, or to 0 where subnormals are flushed, as GPUs may), so each
 * of a reduction's terms may lose this much whatever its relative precision.
 */
export const UNDERFLOW = 2 ** -126;
/** The constant in front of sqrt(L) unit roundoffs, for every reduction. */
export const C_SUM = 8;
/** What one exp, log or pow may add, in unit roundoffs. */
export const TRANSCENDENTAL_ULPS = 32;

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/**
 * Tolerance for outputs that each sum `length` float32 terms whose absolute
 * values sum to at most `scale`, with `transcendentals` exp/log/pow on the way.
 */
export const reductionTolerance = (length: number, scale: number, transcendentals = 0): Tolerance => {
  const rtol = U32 * (C_SUM * Math.sqrt(Math.max(1, length)) + TRANSCENDENTAL_ULPS * transcendentals);
  return { rtol, atol: rtol * scale + UNDERFLOW * Math.max(1, length) };
};

/**
 * The extra rtol of base^exponent computed as exp2(exponent * log2(base)), as
 * GLSL and most libms do: the rounding of log2(base) is multiplied by
 * |exponent|, and exp2 turns that absolute error of its argument into a
 * relative error of the result. Twice |exponent * log2(base)| unit roundoffs;
 * next to nothing for LRN's s near k = 2, tens of ulps for s near 1e9.
 */
export const powRtol = (base: number, exponent: number): number => 2 * U32 * Math.abs(exponent * Math.log2(Math.max(base, Number.MIN_VALUE)));

/** `tol` with `rtol` more, its atol growing with it for a tensor whose largest term is `scale`. */
export const widen = (tol: Tolerance, rtol: number, scale: number): Tolerance => ({ rtol: tol.rtol + rtol, atol: tol.atol + rtol * scale });

export interface Comparison {
  /** Largest |a - b|. */
  readonly maxAbs: number;
  /** Largest |a - b| / (atol / rtol + |b|): the error relative to the size the tolerance allows for. */
  readonly maxRel: number;
  /** Largest |a - b| / (atol + rtol |b|): at most 1 passes. */
  readonly worstRatio: number;
  /** Flat index of the worst element. */
  readonly worstAt: number;
  readonly ok: boolean;
  readonly tol: Tolerance;
}

/** Compares a (gpu.js) with b (reference) elementwise under `tol`. */
export const compare = (a: ArrayLike<number>, b: ArrayLike<number>, tol: Tolerance): Comparison => {
  if (a.length !== b.length) throw new Error(`compare: ${a.length} values against ${b.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  let worstRatio = 0;
  let worstAt = -1;
  const floor = tol.rtol > 0 ? tol.atol / tol.rtol : 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= Number.MAX_VALUE)) return { maxAbs: Infinity, maxRel: Infinity, worstRatio: Infinity, worstAt: i, ok: false, tol }; // NaN or Infinity
    const allowed = tol.atol + tol.rtol * Math.abs(b[i]);
    const ratio = allowed > 0 ? d / allowed : d > 0 ? Infinity : 0;
    maxAbs = Math.max(maxAbs, d);
    const rel = floor + Math.abs(b[i]) > 0 ? d / (floor + Math.abs(b[i])) : d > 0 ? Infinity : 0;
    maxRel = Math.max(maxRel, rel);
    if (ratio > worstRatio || worstAt < 0) { worstRatio = ratio; worstAt = i; }
  }
  return { maxAbs, maxRel, worstRatio, worstAt, ok: worstRatio <= 1, tol };
};

export const maxAbsOf = (t: Tensor | ArrayLike<number>): number => {
  const d = 'data' in t ? t.data : t;
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]));
  return m;
};

/** The float32 reductions one learned layer (with what follows it) adds to a pass. */
export interface LayerReductions {
  readonly name: string;
  /** Forward: the layer's dot products, then LRN's window sums. */
  readonly forward: readonly number[];
  /** Backward to the layer's input: input-gradient sums, LRN and pooling sums. */
  readonly backward: readonly number[];
  /** The weight and bias gradient sums (over the batch and positions). */
  readonly paramGrad: number;
  /** exp / log / pow on the forward and backward way (LRN). */
  readonly transcendentals: number;
}

/**
 * The length of every float32 reduction in one forward and backward pass of
 * `spec` at batch `batch`, layer by layer. On two towers the reductions are
 * those of the grouped network plus a two-term add where the towers' input
 * gradients meet (counted in `backward`).
 */
export const networkReductions = (spec: NetSpec, batch: number): readonly LayerReductions[] => {
  const rows: readonly LayerInfo[] = orThrow(describe(spec));
  const window = 2 * Math.floor(spec.lrn.n / 2) + 1;
  return rows.map((r) => {
    const l = r.spec;
    const forward: number[] = [];
    const backward: number[] = [];
    let paramGrad: number;
    let transcendentals = 0;
    if (l.kind === 'conv') {
      const [F, Cg, K] = r.weightShape;
      const [, OH, OW] = r.convShape;
      forward.push(Cg * K * K + 1);
      backward.push((F / groupsOf(l)) * Math.ceil(K / l.stride) ** 2 + 2);
      paramGrad = batch * OH * OW;
    } else {
      forward.push(r.weightShape[1] + 1);
      backward.push(l.out + 2);
      paramGrad = batch;
    }
    if (l.after.includes('lrn')) {
      forward.push(window);
      backward.push(window * window);
      transcendentals += 3;
    }
    if (l.after.includes('pool')) backward.push(Math.ceil(spec.pool.size / spec.pool.stride) ** 2);
    return { name: r.name, forward, backward, paramGrad, transcendentals };
  });
};

const rtolOf = (lengths: readonly number[], transcendentals: number): number =>
  lengths.reduce((s, L) => s + C_SUM * U32 * Math.sqrt(Math.max(1, L)), 0) + TRANSCENDENTAL_ULPS * U32 * transcendentals;

/**
 * rtol for the values of a whole pass: every reduction a value goes through
 * adds its own. Per tensor, atol = rtol * (the tensor's largest |value|), since
 * the terms of a chain of kernels are not at hand.
 */
export interface NetworkTolerances {
  /** The output of learned layer i (its conv or fc result): layers 0..i forward. */
  readonly forward: (layer: number) => number;
  /** The weight and bias gradients of layer i: the whole forward pass, the loss, backward down to layer i. */
  readonly gradient: (layer: number) => number;
  readonly logits: number;
  readonly loss: number;
}

export const networkTolerances = (spec: NetSpec, batch: number): NetworkTolerances => {
  const layers = networkReductions(spec, batch);
  const softmax = [spec.classes];
  const allForward = layers.flatMap((l) => l.forward);
  const fwdTrans = layers.reduce((s, l) => s + l.transcendentals, 0);
  return {
    forward: (i) => rtolOf(layers.slice(0, i + 1).flatMap((l) => l.forward), layers.slice(0, i + 1).reduce((s, l) => s + l.transcendentals, 0)),
    gradient: (i) => rtolOf(
      [...allForward, ...softmax, ...layers.slice(i).flatMap((l) => l.backward), layers[i].paramGrad],
      fwdTrans + 2 + layers.slice(i).reduce((s, l) => s + l.transcendentals, 0),
    ),
    logits: rtolOf(allForward, fwdTrans),
    loss: rtolOf([...allForward, ...softmax], fwdTrans + 2),
  };
};

/** A tolerance with rtol from `networkTolerances` for a tensor whose largest |value| is `scale`. */
export const scaled = (rtol: number, scale: number): Tolerance => ({ rtol, atol: rtol * scale });
