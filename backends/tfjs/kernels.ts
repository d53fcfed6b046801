/**
 * The TensorFlow.js adapter's kernels: the `Backend` contract over one
 * TensorFlow.js backend. What it adds around TensorFlow.js, and why a verdict
 * on it is a verdict on TensorFlow.js's kernels, is in backends/tfjs/index.ts.
 * This module imports TensorFlow.js statically; index.ts loads it only after
 * `setupTfjs` succeeded.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AsyncLossResult, Backend, ConvParams, Handle, LossResult, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { own } from '../../core/backend.ts';
import { type Shape, Tensor } from '../../core/tensor.ts';
import {
  filtersFromTf, filtersToTf, groupedConv2d, groupedConv2dGradFilter, groupedConv2dGradInput, lrnGradNhwc, lrnNhwc,
  maxPoolGradNhwc, maxPoolNhwc, nchwToNhwc, nhwcToNchw, oneHotHost, paperSgd,
} from './ops.ts';
import type { TfjsBackend } from './setup.ts';

/** A tensor on the adapter: our NCHW layout, held by one TensorFlow.js tensor. */
export interface TfjsHandle extends Handle {
  readonly t: tf.Tensor;
}

class TfHandle implements TfjsHandle {
  readonly shape: Shape;
  constructor(readonly owner: TfjsKernels, readonly t: tf.Tensor) {
    this.shape = Object.freeze([...t.shape]);
  }
}

const t4 = (h: Handle): tf.Tensor4D => (h as TfHandle).t as tf.Tensor4D;
const t2 = (h: Handle): tf.Tensor2D => (h as TfHandle).t as tf.Tensor2D;

/** The engine's "Kernel 'X' not registered for backend 'y'", said as this project says it. */
const NOT_REGISTERED = /Kernel '([^']+)' not registered for backend '([^']+)'/;

export class TfjsKernels implements Backend {
  constructor(
    /** The TensorFlow.js backend these kernels run on. */
    readonly tfBackend: TfjsBackend,
    /** What ran, in words (from `setupTfjs`). */
    readonly detail: string,
    readonly name: string,
  ) {}

  // ---- plumbing of the adapter itself --------------------------------------

  /** The handles' tensors, after checking that they are this backend's. */
  private ts(...hs: Handle[]): tf.Tensor[] {
    own(this, ...hs);
    return hs.map((h) => (h as TfHandle).t);
  }

  private h(t: tf.Tensor): Handle { return new TfHandle(this, t); }

  /**
   * Runs one kernel's TensorFlow.js work: on the right backend, every
   * intermediate tensor freed (tf.tidy), and a kernel that TensorFlow.js lacks
   * on this backend said in one line naming it.
   */
  private run<T extends tf.TensorContainer>(kernel: string, f: () => T): T {
    const active = tf.getBackend();
    if (active !== this.tfBackend) {
      throw new Error(`${this.name}: the active TensorFlow.js backend is now ${active}, not ${this.tfBackend} (one TensorFlow.js backend per process; tf.setBackend is global)`);
    }
    try {
      return tf.tidy(f);
    } catch (e) {
      const m = NOT_REGISTERED.exec((e as Error).message ?? '');
      if (m) throw new Error(`TensorFlow.js ${m[2]} has no ${m[1]} kernel (needed by ${kernel})`);
      if (/^TensorFlow\.js \S+ has no \S+ kernel$/.test((e as Error).message ?? '')) throw new Error(`${(e as Error).message} (needed by ${kernel})`);
      throw e;
    }
  }

  private one(kernel: string, f: () => tf.Tensor): Handle { return this.h(this.run(kernel, f)); }

  // ---- memory ---------------------------------------------------------------

  upload(t: Tensor): Handle {
    return this.one('upload', () => tf.tensor(Float32Array.from(t.data), [...t.shape], 'float32'));
  }

  download(h: Handle): Tensor {
    const [t] = this.ts(h);
    return Tensor.trusted(h.shape, Float32Array.from(t.dataSync() as Float32Array));
  }

  /** The values as the webgpu backend's users read them (`await tensor.data()`; it offers no synchronous read in a browser). */
  async downloadLater(h: Handle): Promise<Tensor> {
    const [t] = this.ts(h);
    return Tensor.trusted(h.shape, Float32Array.from((await t.data()) as Float32Array));
  }

  dispose(h: Handle): void {
    const [t] = this.ts(h);
    t.dispose();
  }

  /** Every live TensorFlow.js tensor of the process, so a leak check also catches the adapter's own. */
  liveCount(): number { return tf.memory().numTensors; }

  // ---- shape plumbing ---------------------------------------------------------

  reshape(x: Handle, shape: Shape): Handle {
    const [t] = this.ts(x);
    return this.one('reshape', () => tf.reshape(t, [...shape]));
  }

  concat(xs: readonly Handle[]): Handle {
    const ts = this.ts(...xs);
    return this.one('concat', () => tf.concat(ts, 1));
  }

  slice(x: Handle, start: number, count: number): Handle {
    const [t] = this.ts(x);
    return this.one('slice', () => tf.slice(t, [0, start, ...t.shape.slice(2).map(() => 0)], [-1, count, ...t.shape.slice(2).map(() => -1)]));
  }

  add(a: Handle, b: Handle): Handle {
    const [ta, tb] = this.ts(a, b);
    return this.one('add', () => tf.add(ta, tb));
  }

  // ---- convolution ----------------------------------------------------------

  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle {
    this.ts(x, w, b);
    return this.one('conv2d', () =>
      nhwcToNchw(tf.add(groupedConv2d(nchwToNhwc(t4(x)), filtersToTf(t4(w), p.groups), p.stride, p.pad), (b as TfHandle).t)));
  }

  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle {
    this.ts(dy, w);
    const [N, C, H, W] = xShape;
    return this.one('conv2dGradInput', () =>
      nhwcToNchw(groupedConv2dGradInput(nchwToNhwc(t4(dy)), filtersToTf(t4(w), p.groups), [N, H, W, C], p.stride, p.pad)));
  }

  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle {
    this.ts(x, dy);
    return this.one('conv2dGradFilter', () =>
      filtersFromTf(groupedConv2dGradFilter(nchwToNhwc(t4(x)), nchwToNhwc(t4(dy)), p.groups, wShape[2], p.stride, p.pad)));
  }

  biasGrad(dy: Handle): Handle {
    const [t] = this.ts(dy);
    return this.one('biasGrad', () => tf.sum(t, t.shape.map((_, i) => i).filter((i) => i !== 1)));
  }

  // ---- fully connected ------------------------------------------------------

  linear(x: Handle, w: Handle, b: Handle): Handle {
    const [, , tb] = this.ts(x, w, b);
    return this.one('linear', () => tf.add(tf.matMul(t2(x), t2(w), false, true), tb));
  }

  linearGradInput(dy: Handle, w: Handle): Handle {
    this.ts(dy, w);
    return this.one('linearGradInput', () => tf.matMul(t2(dy), t2(w)));
  }

  linearGradWeight(x: Handle, dy: Handle): Handle {
    this.ts(x, dy);
    return this.one('linearGradWeight', () => tf.matMul(t2(dy), t2(x), true, false));
  }

  // ---- nonlinearities and normalisation -------------------------------------

  relu(x: Handle): Handle {
    const [t] = this.ts(x);
    return this.one('relu', () => tf.relu(t));
  }

  /** TensorFlow.js's Relu gradient, dy * step(x); step(y) = step(x) for y = relu(x). */
  reluGrad(y: Handle, dy: Handle): Handle {
    const [ty, tdy] = this.ts(y, dy);
    return this.one('reluGrad', () => tf.mul(tdy, tf.cast(tf.step(ty), 'float32')));
  }

  lrn(x: Handle, p: LrnParams): Handle {
    this.ts(x);
    return this.one('lrn', () => nhwcToNchw(lrnNhwc(nchwToNhwc(t4(x)), p)));
  }

  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle {
    this.ts(x, dy);
    return this.one('lrnGrad', () => {
      const xh = nchwToNhwc(t4(x));
      return nhwcToNchw(lrnGradNhwc(xh, lrnNhwc(xh, p), nchwToNhwc(t4(dy)), p));
    });
  }

  maxPool(x: Handle, p: PoolParams): Handle {
    this.ts(x);
    return this.one('maxPool', () => nhwcToNchw(maxPoolNhwc(nchwToNhwc(t4(x)), p.size, p.stride)));
  }

  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle {
    this.ts(x, dy);
    return this.one('maxPoolGrad', () => {
      const xh = nchwToNhwc(t4(x));
      return nhwcToNchw(maxPoolGradNhwc(xh, maxPoolNhwc(xh, p.size, p.stride), nchwToNhwc(t4(dy)), p.size, p.stride));
    });
  }

  // ---- dropout ----------------------------------------------------------------

  dropout(x: Handle, mask: Handle): Handle {
    const [tx, tm] = this.ts(x, mask);
    return this.one('dropout', () => tf.mul(tx, tm));
  }

  dropoutGrad(dy: Handle, mask: Handle): Handle {
    const [tdy, tm] = this.ts(dy, mask);
    return this.one('dropoutGrad', () => tf.mul(tdy, tm));
  }

  // ---- loss and update --------------------------------------------------------

  /** tf.losses.softmaxCrossEntropy (mean over the batch), tf.softmax, and the loss's own gradient (tf.grad). */
  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult {
    const r = this.lossTensors(logits, labels);
    const loss = r.loss.dataSync()[0];
    r.loss.dispose();
    return { loss, probs: this.h(r.probs), dlogits: this.h(r.dlogits) };
  }

  /** The same, the loss read as the webgpu backend's users read it. */
  softmaxCrossEntropyLater(logits: Handle, labels: Int32Array): AsyncLossResult {
    const r = this.lossTensors(logits, labels);
    const loss = r.loss.data().then((d) => d[0]).finally(() => r.loss.dispose());
    return { loss, probs: this.h(r.probs), dlogits: this.h(r.dlogits) };
  }

  private lossTensors(logits: Handle, labels: Int32Array): { loss: tf.Tensor; probs: tf.Tensor; dlogits: tf.Tensor } {
    const [z] = this.ts(logits);
    return this.run('softmaxCrossEntropy', () => {
      const y = oneHotHost(labels, logits.shape[1]);
      const loss = (l: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, l);
      return { loss: loss(z), probs: tf.softmax(z), dlogits: tf.grad(loss)(z) };
    });
  }

  /** The paper's update composed of TensorFlow.js ops (not tf.train.momentum, whose form differs). */
  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle } {
    const [tw, tv, tg] = this.ts(w, v, g);
    const r = this.run('sgdUpdate', () => paperSgd(tw, tv, tg, p));
    return { w: this.h(r.w), v: this.h(r.v) };
  }
}
