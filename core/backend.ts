/**
 * The kernel contract. A `Backend` is one set of kernels on one execution
 * context: the reference backend (plain loops on the host), or one gpu.js
 * context. Forward and backward kernels are separate named entries. Everything
 * a layer of AlexNet needs is here; what is not on the hot path is composed in
 * `core/` from these.
 *
 * Tensors that live on a backend are `Handle`s. A handle belongs to the backend
 * that made it; a kernel handed a handle of another backend fails loudly. The
 * only way between backends is `transfer` (core/transfer.ts).
 *
 * Kernels trust their input: the layers and the executor validate shapes once,
 * up front. Every kernel returns new handles and never writes into its inputs.
 *
 * At the edges of the numbers each kernel computes what its comment says for
 * every finite float32 input: zeros, ties, magnitudes of 1e4 and 1e-30 alike.
 * A result below 2^-126 may underflow to 0, and a subnormal input may be read
 * as 0 (GPUs flush subnormals), even where that decides a comparison (which
 * value of a pooling window is the largest, whether a ReLU's output is
 * positive); nothing else about a subnormal may go wrong (no NaN). The
 * conformance kit (properties/kit, `alexnet verify`) draws these edges and
 * names the one a failing case drew.
 */
import type { Shape, Tensor } from './tensor.ts';

export interface Handle {
  readonly shape: Shape;
  readonly owner: Backend;
}

/** Convolution geometry. Square kernels, the same stride and padding in both axes. */
export interface ConvParams {
  readonly stride: number;
  readonly pad: number;
  /** Input and output channels are split into this many independent groups. */
  readonly groups: number;
}

/** Local response normalisation across channels (paper section 3.3). */
export interface LrnParams {
  readonly k: number;
  /** Window size n; the sum runs over channels i - floor(n/2) .. i + floor(n/2). */
  readonly n: number;
  /** Multiplies the plain sum of squares (the paper's form, not alpha / n). */
  readonly alpha: number;
  readonly beta: number;
}

export interface PoolParams {
  /** Window side z. */
  readonly size: number;
  /** Stride s; s < z overlaps (the paper's z = 3, s = 2). */
  readonly stride: number;
}

export interface SgdParams {
  /** Learning rate epsilon. */
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
}

export interface LossResult {
  /** Mean cross-entropy over the batch. */
  readonly loss: number;
  /** Softmax probabilities, [N, K]. */
  readonly probs: Handle;
  /** Gradient of the mean loss with respect to the logits, [N, K]. */
  readonly dlogits: Handle;
}

export interface Backend {
  /** A readable name: "reference", "gpu.js headlessgl #0", ... */
  readonly name: string;

  // ---- memory -----------------------------------------------------------
  upload(t: Tensor): Handle;
  download(h: Handle): Tensor;
  /** Frees device memory now; using h afterwards is an error. No-op on the host. */
  dispose(h: Handle): void;
  /** How many device buffers are alive (for leak checks). */
  liveCount(): number;

  // ---- shape plumbing (axis 1 is the channel / unit axis) ------------------
  /** Same values, another shape of the same size. */
  reshape(x: Handle, shape: Shape): Handle;
  /** Concatenates along axis 1. */
  concat(xs: readonly Handle[]): Handle;
  /** Channels [start, start + count) of axis 1. */
  slice(x: Handle, start: number, count: number): Handle;
  /** Elementwise a + b (sums gradients where a tensor fed two consumers). */
  add(a: Handle, b: Handle): Handle;

  // ---- convolution (x [N,C,H,W], w [F, C/groups, kh, kw], b [F]) --------
  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle;
  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle;
  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle;
  /** Sum of dy over every axis but 1: the bias gradient of conv and fc layers (a single-element sum is that element). */
  biasGrad(dy: Handle): Handle;

  // ---- fully connected (x [N,K], w [M,K], b [M]; y = x w^T + b) ---------
  linear(x: Handle, w: Handle, b: Handle): Handle;
  linearGradInput(dy: Handle, w: Handle): Handle;
  linearGradWeight(x: Handle, dy: Handle): Handle;

  // ---- nonlinearities and normalisation ---------------------------------
  /** max(0, x); exactly 0 for every x <= 0. */
  relu(x: Handle): Handle;
  /** dy where the ReLU's output y was positive, else 0: at y = 0 exactly the gradient is 0. */
  reluGrad(y: Handle, dy: Handle): Handle;
  lrn(x: Handle, p: LrnParams): Handle;
  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle;
  maxPool(x: Handle, p: PoolParams): Handle;
  /**
   * Routes dy to the first maximum of each window in row-major order: where
   * values tie (a window of zeros after a ReLU, say) the first of them gets it,
   * whatever their sign; overlapping windows add up.
   */
  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle;

  // ---- dropout: y = x * mask, mask explicit (0 or the keep scale) --------
  dropout(x: Handle, mask: Handle): Handle;
  dropoutGrad(dy: Handle, mask: Handle): Handle;

  // ---- loss and update --------------------------------------------------
  /**
   * Softmax cross-entropy of logits [N, K] against integer labels, mean over N.
   * Stable for any finite logits: logits of +-1e4, where exp overflows float32,
   * give the exact softmax (compute it from the logits minus their row maximum).
   */
  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult;
  /**
   * The paper's update (section 5):
   *   v <- momentum * v - weightDecay * lr * w - lr * g ;  w <- w + v
   */
  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle };

  // ---- for backends that run elsewhere (backends/remote) -------------------
  /**
   * A backend whose kernels return before they have run (a tower in another
   * thread or process) waits here until every kernel called so far has run,
   * and throws the first that failed. Absent where kernels finish before they
   * return.
   */
  sync?(): void;
  /**
   * Moves h to backend `to` by a path of the backend's own (straight between
   * two towers), or returns undefined for the host path. Called by `transfer`.
   */
  transferTo?(h: Handle, to: Backend): Handle | undefined;
}

/** A value now, or a promise of it. */
export type Later<T> = T | Promise<T>;

/** A loss whose number may come later (a read of the device). */
export interface AsyncLossResult {
  readonly loss: Later<number>;
  readonly probs: Handle;
  readonly dlogits: Handle;
}

type Kernels = Omit<Backend, 'name' | 'sync' | 'transferTo' | 'softmaxCrossEntropy'>;

/**
 * A backend whose answers may come later: any method may return a promise of
 * what `Backend`'s returns (every read of a WebGPU buffer is `mapAsync`; a
 * runtime whose API is promises answers every call so). The executor, the
 * training loop and the kit call backends synchronously, so an asynchronous
 * backend runs in a tower of its own (backends/remote, `asyncTower`): the tower
 * awaits each answer in the order the calls were made, and the caller sees an
 * ordinary `Backend` whose reads wait for the tower.
 * A kernel receives only handles whose promises have settled.
 */
export type AsyncBackend = { readonly name: string } & {
  [K in keyof Kernels]: Kernels[K] extends (...a: infer A) => infer R ? (...a: A) => Later<R> : never;
} & {
  softmaxCrossEntropy(logits: Handle, labels: Int32Array): Later<AsyncLossResult>;
  /** Settles once every kernel called so far has run (WebGPU: the queue's submitted work is done). */
  sync?(): Later<void>;
};

/** Throws if h does not belong to backend b (the tower boundary is explicit). */
export const own = (b: Backend, ...hs: Handle[]): void => {
  for (const h of hs) {
    if (h.owner !== b) {
      throw new Error(`a tensor of ${h.owner.name} was handed to ${b.name}; move it with transfer() first`);
    }
  }
};

/** Output side of a convolution or pooling window (sizes rounded down). */
export const outSize = (inSize: number, kernel: number, stride: number, pad: number): number =>
  Math.floor((inSize + 2 * pad - kernel) / stride) + 1;
