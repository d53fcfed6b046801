/**
 * The shape checks of the gpu.js backends (GL, webasm and cpu in index.ts,
 * WebGPU in webgpu.ts): each throws a ShapeError naming what was expected, or
 * returns the result's shape.
 */
import type { ConvParams, LrnParams, PoolParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import { fail } from '../../core/errors.ts';
import { type Shape, sameShape, shapeString } from '../../core/tensor.ts';

export const shapeFail = (message: string): never => fail('ShapeError', message);

/** The output shape [N, F, OH, OW] of a convolution of x by w. */
export const convShape = (xShape: Shape, wShape: Shape, p: ConvParams): Shape => {
  if (xShape.length !== 4 || wShape.length !== 4) shapeFail(`convolution takes x [N, C, H, W] and w [F, C/groups, K, K], got ${shapeString(xShape)} and ${shapeString(wShape)}`);
  const [N, C, H, W] = xShape;
  const [F, Cg, K, K2] = wShape;
  if (!(Number.isInteger(p.groups) && p.groups >= 1 && Number.isInteger(p.stride) && p.stride >= 1 && Number.isInteger(p.pad) && p.pad >= 0)) {
    shapeFail(`convolution needs whole groups >= 1, stride >= 1 and pad >= 0, got groups ${p.groups}, stride ${p.stride}, pad ${p.pad}`);
  }
  if (K !== K2 || Cg * p.groups !== C || F % p.groups !== 0) {
    shapeFail(`w ${shapeString(wShape)} does not fit x ${shapeString(xShape)} with ${p.groups} groups: need square kernels, C = ${C} = groups x w.shape[1] and F divisible by groups`);
  }
  const OH = outSize(H, K, p.stride, p.pad);
  const OW = outSize(W, K, p.stride, p.pad);
  if (OH < 1 || OW < 1) shapeFail(`a ${K}x${K} kernel with pad ${p.pad} does not fit a ${H}x${W} map`);
  return [N, F, OH, OW];
};

export const checkConvBias = (b: Shape, wShape: Shape): void => {
  if (b.length !== 1 || b[0] !== wShape[0]) shapeFail(`bias ${shapeString(b)} does not match ${wShape[0]} filters`);
};

export const checkConvGradient = (dy: Shape, yShape: Shape): void => {
  if (!sameShape(dy, yShape)) shapeFail(`dy ${shapeString(dy)} is not the output shape ${shapeString(yShape)}`);
};

export const checkLrn = (shape: Shape, p: LrnParams): void => {
  if (shape.length < 2) shapeFail(`LRN normalises across axis 1 of [N, C, ...], got ${shapeString(shape)}`);
  if (!(Number.isInteger(p.n) && p.n >= 1)) shapeFail(`LRN window n must be a whole number >= 1, got ${p.n}`);
  if (!(p.k > 0 && p.alpha >= 0)) shapeFail(`LRN needs k > 0 and alpha >= 0 (so the base stays positive), got k = ${p.k}, alpha = ${p.alpha}`);
};

/** The output shape [N, C, OH, OW] of max-pooling x. */
export const poolShape = (shape: Shape, p: PoolParams): Shape => {
  if (shape.length !== 4) shapeFail(`max-pooling takes [N, C, H, W], got ${shapeString(shape)}`);
  if (!(Number.isInteger(p.size) && p.size >= 1 && Number.isInteger(p.stride) && p.stride >= 1)) {
    shapeFail(`pooling needs a whole window >= 1 and stride >= 1, got ${p.size}/${p.stride}`);
  }
  const [N, C, H, W] = shape;
  const OH = outSize(H, p.size, p.stride, 0);
  const OW = outSize(W, p.size, p.stride, 0);
  if (OH < 1 || OW < 1) shapeFail(`a ${p.size}x${p.size} pooling window does not fit a ${H}x${W} map`);
  return [N, C, OH, OW];
};

/** The shape of concat(xs) along axis 1. */
export const concatShape = (shapes: readonly Shape[]): Shape => {
  if (shapes.length === 0) shapeFail('concat needs at least one tensor');
  const [N, , ...rest] = shapes[0];
  for (const s of shapes) {
    if (s.length < 2 || s[0] !== N || !sameShape(s.slice(2), rest)) {
      shapeFail(`concat joins along axis 1 tensors that agree elsewhere; got ${shapes.map(shapeString).join(' and ')}`);
    }
  }
  return [N, shapes.reduce((c, s) => c + s[1], 0), ...rest];
};

/** The shape of slice(x, start, count). */
export const sliceShape = (shape: Shape, start: number, count: number): Shape => {
  const [N, C, ...rest] = shape;
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= C)) {
    shapeFail(`slice [${start}, ${start + count}) of axis 1 is outside ${shapeString(shape)}`);
  }
  return [N, count, ...rest];
};

export const checkSameShapes = (what: string, a: Shape, b: Shape): void => {
  if (!sameShape(a, b)) shapeFail(`${what}, got ${shapeString(a)} and ${shapeString(b)}`);
};

export const checkLinear = (x: Shape, w: Shape, b: Shape): Shape => {
  if (x.length !== 2 || w.length !== 2 || x[1] !== w[1] || !sameShape(b, [w[0]])) {
    shapeFail(`linear takes x [N, K], w [M, K], b [M]; got ${shapeString(x)}, ${shapeString(w)}, ${shapeString(b)}`);
  }
  return [x[0], w[0]];
};

export const checkLinearGradInput = (dy: Shape, w: Shape): Shape => {
  if (dy.length !== 2 || w.length !== 2 || dy[1] !== w[0]) {
    shapeFail(`linearGradInput takes dy [N, M] and w [M, K]; got ${shapeString(dy)} and ${shapeString(w)}`);
  }
  return [dy[0], w[1]];
};

export const checkLinearGradWeight = (x: Shape, dy: Shape): Shape => {
  if (x.length !== 2 || dy.length !== 2 || x[0] !== dy[0]) {
    shapeFail(`linearGradWeight takes x [N, K] and dy [N, M]; got ${shapeString(x)} and ${shapeString(dy)}`);
  }
  return [dy[1], x[1]];
};

/** The logits [N, K] and N labels of a softmax cross-entropy, each label in 0..K-1; returns [N, K]. */
export const checkLoss = (logits: Shape, labels: Int32Array): [number, number] => {
  if (logits.length !== 2) shapeFail(`softmax cross-entropy takes logits [N, K], got ${shapeString(logits)}`);
  const [N, K] = logits;
  if (labels.length !== N) shapeFail(`${labels.length} labels for ${N} rows of logits`);
  const bad = labels.findIndex((l) => !(Number.isInteger(l) && l >= 0 && l < K));
  if (bad >= 0) fail('ValueError', `label ${labels[bad]} of row ${bad} is outside 0..${K - 1}`);
  return [N, K];
};
