/**
 * The pieces of AlexNet that TensorFlow.js has no single op for, written once
 * in TensorFlow.js ops and shared by the adapter (backends/tfjs/kernels.ts) and
 * the bench's peer network (bench/peers/tfjs.ts):
 *
 * - LRN in TensorFlow's form, `tf.localResponseNormalization(x, floor(n/2), k,
 *   alpha, beta)`: TensorFlow multiplies alpha by the plain sum of squares, as
 *   the paper does (cuda-convnet and Caffe divide alpha by n), so no rescaling.
 * - Grouped convolution as slices: TensorFlow.js convolutions have no groups,
 *   so the input channels are split into groups, each convolved with its own
 *   filters, and the outputs concatenated (the paper's two towers). The same
 *   for both gradients, through TensorFlow.js's own gradient kernels.
 * - Layouts: our activations are NCHW and our filters [F, C/groups, k, k];
 *   TensorFlow.js wants NHWC and filters [k, k, C/groups, F/groups] per group.
 *
 * Everything here is pure TensorFlow.js ops (and `runKernel` of TensorFlow.js's
 * own kernels); callers own the tidying.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LrnParams, SgdParams } from '../../core/backend.ts';

/** NCHW -> NHWC. */
export const nchwToNhwc = (x: tf.Tensor4D): tf.Tensor4D => tf.transpose(x, [0, 2, 3, 1]);

/** NHWC -> NCHW. */
export const nhwcToNchw = (x: tf.Tensor4D): tf.Tensor4D => tf.transpose(x, [0, 3, 1, 2]);

/** Our filters [F, C/groups, k, k] as one TensorFlow.js filter [k, k, C/groups, F/groups] per group. */
export const filtersToTf = (w: tf.Tensor4D, groups: number): tf.Tensor4D[] => {
  const all = tf.transpose(w, [2, 3, 1, 0]);
  return groups === 1 ? [all] : tf.split(all, groups, 3);
};

/** TensorFlow.js filters [k, k, Cg, Fg], one per group, as our [F, Cg, k, k]. */
export const filtersFromTf = (parts: readonly tf.Tensor4D[]): tf.Tensor4D =>
  tf.transpose(parts.length === 1 ? parts[0] : tf.concat(parts as tf.Tensor4D[], 3), [3, 2, 0, 1]);

/** Splits the channels (axis 3 of NHWC) into `groups` equal parts. */
export const splitChannels = (x: tf.Tensor4D, groups: number): tf.Tensor4D[] => (groups === 1 ? [x] : tf.split(x, groups, 3));

const concatChannels = (xs: tf.Tensor4D[]): tf.Tensor4D => (xs.length === 1 ? xs[0] : tf.concat(xs, 3));

/**
 * Runs one of TensorFlow.js's kernels by name (as its gradient functions do),
 * or throws one line naming the kernel and the backend that lacks it.
 */
export const runTfKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor => {
  const backend = tf.getBackend();
  if (!tf.getKernel(name, backend)) throw new Error(`TensorFlow.js ${backend} has no ${name} kernel`);
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
};

/**
 * Grouped convolution, NHWC, no bias: x split into `filters.length` groups of
 * channels, group g convolved with filters[g] ([k, k, Cg, Fg]) at the given
 * stride and zero padding (output sizes rounded down), outputs concatenated.
 */
export const groupedConv2d = (x: tf.Tensor4D, filters: readonly tf.Tensor4D[], stride: number, pad: number): tf.Tensor4D =>
  concatChannels(splitChannels(x, filters.length).map((p, g) => tf.conv2d(p, filters[g], stride, pad, 'NHWC')));

const convAttrs = (stride: number, pad: number) => ({ strides: stride, pad, dataFormat: 'NHWC', dimRoundingMode: undefined });

/**
 * The input gradient of `groupedConv2d`, from TensorFlow.js's Conv2DBackpropInput
 * kernel per group. `xShape` is the NHWC input shape.
 */
export const groupedConv2dGradInput = (dy: tf.Tensor4D, filters: readonly tf.Tensor4D[], xShape: readonly number[], stride: number, pad: number): tf.Tensor4D => {
  const [N, H, W, C] = xShape;
  const g = filters.length;
  return concatChannels(splitChannels(dy, g).map((d, i) =>
    runTfKernel('Conv2DBackpropInput', { dy: d, filter: filters[i] }, { ...convAttrs(stride, pad), inputShape: [N, H, W, C / g] }) as tf.Tensor4D));
};

/**
 * The filter gradient of `groupedConv2d`, from TensorFlow.js's
 * Conv2DBackpropFilter kernel per group: one [k, k, Cg, Fg] per group.
 */
export const groupedConv2dGradFilter = (x: tf.Tensor4D, dy: tf.Tensor4D, groups: number, k: number, stride: number, pad: number): tf.Tensor4D[] => {
  const xs = splitChannels(x, groups);
  const Cg = x.shape[3] / groups;
  const Fg = dy.shape[3] / groups;
  return splitChannels(dy, groups).map((d, i) =>
    runTfKernel('Conv2DBackpropFilter', { x: xs[i], dy: d }, { ...convAttrs(stride, pad), filterShape: [k, k, Cg, Fg] }) as tf.Tensor4D);
};

/** The paper's LRN parameters as TensorFlow's (depth radius floor(n/2), bias k, alpha on the plain sum). */
export const lrnAttrs = (p: LrnParams) => ({ depthRadius: Math.floor(p.n / 2), bias: p.k, alpha: p.alpha, beta: p.beta });

/** The paper's LRN across the channels of NHWC maps: b = a / (k + alpha * sum a^2)^beta. */
export const lrnNhwc = (x: tf.Tensor4D, p: LrnParams): tf.Tensor4D => {
  const a = lrnAttrs(p);
  return tf.localResponseNormalization(x, a.depthRadius, a.bias, a.alpha, a.beta);
};

/** The input gradient of `lrnNhwc`, from TensorFlow.js's LRNGrad kernel (y is the forward's output). */
export const lrnGradNhwc = (x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, p: LrnParams): tf.Tensor4D =>
  runTfKernel('LRNGrad', { x, y, dy }, lrnAttrs(p)) as tf.Tensor4D;

/** Max-pooling of NHWC maps, no padding, sizes rounded down. */
export const maxPoolNhwc = (x: tf.Tensor4D, size: number, stride: number): tf.Tensor4D => tf.maxPool(x, size, stride, 'valid');

/** The input gradient of `maxPoolNhwc`, from TensorFlow.js's MaxPoolGrad kernel (y is the forward's output). */
export const maxPoolGradNhwc = (x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, size: number, stride: number): tf.Tensor4D =>
  runTfKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: size, strides: stride, pad: 'valid', dimRoundingMode: undefined }) as tf.Tensor4D;

/** One-hot labels [N, classes], built on the host (headless-gl WebGL 1's `tf.oneHot` of int32 reads every label as 0). */
export const oneHotHost = (labels: Int32Array, classes: number): tf.Tensor2D => {
  const m = new Float32Array(labels.length * classes);
  labels.forEach((l, n) => { m[n * classes + l] = 1; });
  return tf.tensor2d(m, [labels.length, classes]);
};

/** The paper's update, v' = momentum v - weightDecay lr w - lr g, w' = w + v', in TensorFlow.js ops. */
export const paperSgd = <T extends tf.Tensor>(w: T, v: T, g: T, p: SgdParams): { w: T; v: T } => {
  const nv = tf.sub(tf.sub(tf.mul(v, p.momentum), tf.mul(w, p.weightDecay * p.lr)), tf.mul(g, p.lr)) as T;
  return { w: tf.add(w, nv) as T, v: nv };
};
