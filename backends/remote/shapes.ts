/**
 * The shape of every kernel's result, from the shapes of its arguments, so a
 * tower running elsewhere can hand back a handle at once and compute it later.
 * Each rule is the kernel's comment in core/backend.ts, in shapes.
 */
import type { ConvParams, PoolParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import type { Shape } from '../../core/tensor.ts';

type Arg = Shape | unknown;
const s = (a: Arg): Shape => a as Shape;

/** Result shapes in the order the kernel returns its handles. */
export const RESULT_SHAPES: Readonly<Record<string, (...a: Arg[]) => Shape[]>> = {
  reshape: (_x, shape) => [s(shape)],
  concat: (xs) => {
    const all = xs as Shape[];
    return [[all[0][0], all.reduce((c, x) => c + x[1], 0), ...all[0].slice(2)]];
  },
  slice: (x, _start, count) => [[s(x)[0], count as number, ...s(x).slice(2)]],
  add: (a) => [s(a)],
  conv2d: (x, w, _b, p) => {
    const [N, , H, W] = s(x);
    const [F, , kh, kw] = s(w);
    const { stride, pad } = p as ConvParams;
    return [[N, F, outSize(H, kh, stride, pad), outSize(W, kw, stride, pad)]];
  },
  conv2dGradInput: (_dy, _w, xShape) => [s(xShape)],
  conv2dGradFilter: (_x, _dy, wShape) => [s(wShape)],
  biasGrad: (dy) => [[s(dy)[1]]],
  linear: (x, w) => [[s(x)[0], s(w)[0]]],
  linearGradInput: (dy, w) => [[s(dy)[0], s(w)[1]]],
  linearGradWeight: (x, dy) => [[s(dy)[1], s(x)[1]]],
  relu: (x) => [s(x)],
  reluGrad: (y) => [s(y)],
  lrn: (x) => [s(x)],
  lrnGrad: (x) => [s(x)],
  maxPool: (x, p) => {
    const [N, C, H, W] = s(x);
    const { size, stride } = p as PoolParams;
    return [[N, C, outSize(H, size, stride, 0), outSize(W, size, stride, 0)]];
  },
  maxPoolGrad: (x) => [s(x)],
  dropout: (x) => [s(x)],
  dropoutGrad: (dy) => [s(dy)],
  softmaxCrossEntropy: (logits) => [s(logits), s(logits)],
  sgdUpdate: (w, v) => [s(w), s(v)],
};

export const KERNELS: readonly string[] = Object.keys(RESULT_SHAPES);
