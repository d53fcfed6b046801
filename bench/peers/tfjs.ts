/**
 * The peers: the same AlexNet built from TensorFlow.js ops, on one of its
 * backends (`cpu`, `wasm`, or `webgl` on a headless-gl context).
 *
 * "The same" means the same table (core/alexnet.ts), the same shapes and the
 * same weights: the parameters come from `initParams` with the suite's seed
 * and are rearranged into TensorFlow.js layouts (NHWC activations, filters
 * [kh, kw, in, out], fc weights [in, out]). TensorFlow.js convolutions have no
 * groups, so conv2, conv4 and conv5 split their input channels in two, convolve
 * each half with its own filters and concatenate, exactly as the two towers do.
 * LRN is `tf.localResponseNormalization` with depthRadius = floor(n/2),
 * bias = k, alpha, beta: the paper's form (alpha times the plain sum), applied
 * to each tower's half of the channels apart, as the project's network does. Dropout
 * uses the same explicit masks as the project's executor, and the update is the
 * paper's momentum + weight-decay rule. fc6's weight columns are permuted so
 * that flattening NHWC maps gives the same function as flattening NCHW maps:
 * the peer computes the project's logits, not merely a network of the same cost.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// The op gradients are registered by the @tensorflow/tfjs package (what a user
// installs), not by tfjs-core alone; it also brings the cpu backend.
import '@tensorflow/tfjs';
import { type LayerInfo, type NetSpec, groupsOf, towerSplit } from '../../core/alexnet.ts';
import type { SgdParams } from '../../core/backend.ts';
import { biasName, type Params, weightName } from '../../core/params.ts';
import type { Tensor } from '../../core/tensor.ts';

export type TfjsBackend = 'cpu' | 'wasm' | 'webgl';

export interface TfjsSetup {
  readonly backend: TfjsBackend;
  /** What ran, in words: the backend and its relevant flags (SIMD, threads, GL renderer). */
  readonly detail: string;
  /** The GL renderer when the backend draws with GL. */
  readonly gl?: string;
}

const require = createRequire(import.meta.url);

/**
 * TensorFlow.js's wasm backend has no kernel for the filter gradient of a
 * convolution (Conv2DBackpropFilter), so training on it fails without one.
 * This supplies it from the backend's own kernels:
 *
 *   dW[a, b, ci, co] = sum_{n, i, j} x[n, a + i*s - p, b + j*s - p, ci] * dy[n, i, j, co]
 *
 * is a convolution of x seen as [ci, H, W, n] (a batch of ci images with n
 * channels) with dy seen as the filter [OH, OW, n, co], at stride 1, padding p
 * and dilation s; its first kh x kw outputs, transposed to [kh, kw, ci, co],
 * are the filter gradient.
 */
const registerWasmConvFilterGrad = (): void => {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  const k = (name: string) => {
    const cfg = tf.getKernel(name, 'wasm');
    if (!cfg) throw new Error(`the wasm backend has no ${name} kernel`);
    return cfg.kernelFunc;
  };
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as { strides: number | [number, number]; pad: number | string; filterShape: [number, number, number, number]; dataFormat?: string };
      if (typeof a.pad !== 'number') throw new Error(`Conv2DBackpropFilter on wasm here takes numeric padding, got '${a.pad}'`);
      if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter on wasm here takes NHWC');
      const s = typeof a.strides === 'number' ? a.strides : a.strides[0];
      const [kh, kw, ci, co] = a.filterShape;
      const be = backend as unknown as { disposeData(id: tf.DataId): boolean };
      const run = (name: string, ins: Record<string, tf.TensorInfo>, at: Record<string, unknown>) =>
        k(name)({ inputs: ins, backend, attrs: at as tf.NamedAttrMap }) as tf.TensorInfo;
      const xt = run('Transpose', { x }, { perm: [3, 1, 2, 0] });
      const dyt = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
      const c = run('Conv2D', { x: xt, filter: dyt }, { strides: [1, 1], pad: a.pad, dilations: [s, s], dataFormat: 'NHWC', dimRoundingMode: undefined });
      const cut = c.shape[1] === kh && c.shape[2] === kw ? c : run('Slice', { x: c }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
      const out = run('Transpose', { x: cut }, { perm: [1, 2, 0, 3] });
      for (const t of new Set([xt, dyt, c, cut])) be.disposeData(t.dataId);
      return out;
    },
  });
};

/** Selects and initialises a TensorFlow.js backend in this process. */
export const setupTfjs = async (which: TfjsBackend): Promise<TfjsSetup> => {
  if (which === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu'))) throw new Error('TensorFlow.js cpu backend did not initialise');
    return { backend: which, detail: `tfjs-core ${tf.version_core}, cpu backend (plain JavaScript)` };
  }
  if (which === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    registerWasmConvFilterGrad();
    if (!(await tf.setBackend('wasm'))) throw new Error('TensorFlow.js wasm backend did not initialise');
    await tf.ready();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return {
      backend: which,
      detail: `tfjs-core ${tf.version_core}, wasm backend (XNNPACK, SIMD ${simd ? 'on' : 'off'}, ${threads ? 'multi-threaded' : '1 thread'}; Conv2DBackpropFilter supplied by the suite)`,
    };
  }
  const { setupHeadlessWebgl } = await import('./webgl.ts');
  const gl = await setupHeadlessWebgl();
  return { backend: which, detail: `tfjs-core ${tf.version_core}, webgl backend on headless-gl (WebGL 1, ${gl})`, gl };
};

const transpose2 = (src: Tensor, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows * cols);
  const d = src.data;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c];
  return out;
};

/** [F, Cg, k, k] rows [f0, f0 + Fg) -> [k, k, Cg, Fg]. */
const convFilter = (w: Tensor, f0: number, Fg: number): Float32Array => {
  const [, Cg, K] = w.shape;
  const out = new Float32Array(K * K * Cg * Fg);
  const d = w.data;
  for (let f = 0; f < Fg; f++)
    for (let c = 0; c < Cg; c++)
      for (let ky = 0; ky < K; ky++)
        for (let kx = 0; kx < K; kx++) out[((ky * K + kx) * Cg + c) * Fg + f] = d[(((f0 + f) * Cg + c) * K + ky) * K + kx];
  return out;
};

/**
 * fc6 reads the flattened maps: ours flatten NCHW (index (c*H + h)*W + w), the
 * peer flattens NHWC (index (h*W + w)*C + c). Row k_tf of the peer's [K, M]
 * weight is column k_ours of our [M, K] weight.
 */
const fcWeightFromMaps = (w: Tensor, C: number, H: number, W: number): Float32Array => {
  const [M, K] = w.shape;
  const out = new Float32Array(K * M);
  const d = w.data;
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++)
      for (let x = 0; x < W; x++) {
        const kOurs = (c * H + h) * W + x;
        const kTf = (h * W + x) * C + c;
        for (let m = 0; m < M; m++) out[kTf * M + m] = d[m * K + kOurs];
      }
  return out;
};

/** Our NCHW host tensor as an NHWC TensorFlow.js tensor. */
export const toNhwc = (x: Tensor): tf.Tensor4D => {
  const [N, C, H, W] = x.shape;
  const out = new Float32Array(N * H * W * C);
  const d = x.data;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) out[((n * H + h) * W + w) * C + c] = d[((n * C + c) * H + h) * W + w];
  return tf.tensor4d(out, [N, H, W, C]);
};

export interface PeerLayer {
  readonly info: LayerInfo;
  /** Filters per group ([k, k, Cg, Fg]) for a conv, or one [K, M] weight for an fc. */
  readonly w: tf.Variable[];
  readonly b: tf.Variable;
  readonly groups: number;
}

/** AlexNet on the current TensorFlow.js backend, with the project's weights. */
let instances = 0;

export class TfAlexnet {
  readonly layers: PeerLayer[];
  private readonly velocity = new Map<tf.Variable, tf.Variable>();

  constructor(readonly spec: NetSpec, readonly rows: readonly LayerInfo[], params: Params) {
    const id = `alexnet${instances++}`;
    this.layers = rows.map((r) => {
      const w = params.get(weightName(r.name))!;
      const b = tf.variable(tf.tensor1d(Float32Array.from(params.get(biasName(r.name))!.data)), true, `${id}.${r.name}.bias`);
      if (r.spec.kind === 'conv') {
        const g = groupsOf(r.spec);
        const Fg = r.spec.out / g;
        const [, Cg, K] = w.shape;
        const ws = Array.from({ length: g }, (_, i) => tf.variable(tf.tensor4d(convFilter(w, i * Fg, Fg), [K, K, Cg, Fg]), true, `${id}.${r.name}.weight.${i}`));
        return { info: r, w: ws, b, groups: g };
      }
      const [M, K] = w.shape;
      const wt = r.inShape.length === 3
        ? fcWeightFromMaps(w, r.inShape[0], r.inShape[1], r.inShape[2])
        : transpose2(w, M, K);
      return { info: r, w: [tf.variable(tf.tensor2d(wt, [K, M]), true, `${id}.${r.name}.weight`)], b, groups: 1 };
    });
    for (const v of this.variables()) this.velocity.set(v, tf.variable(tf.zerosLike(v), false));
  }

  variables(): tf.Variable[] {
    return this.layers.flatMap((l) => [...l.w, l.b]);
  }

  /** One convolution layer's learned part: split by groups, convolve, concatenate, add the bias. */
  conv(l: PeerLayer, x: tf.Tensor4D): tf.Tensor4D {
    const spec = l.info.spec;
    if (spec.kind !== 'conv') throw new Error(`${l.info.name} is not a convolution`);
    const parts: tf.Tensor4D[] = l.groups === 1 ? [x] : tf.split(x, l.groups, 3);
    const ys = parts.map((p, i) => tf.conv2d(p, l.w[i] as tf.Tensor4D, spec.stride, spec.pad, 'NHWC'));
    const y = ys.length === 1 ? ys[0] : tf.concat(ys, 3);
    return tf.add(y, l.b);
  }

  linear(l: PeerLayer, x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, l.w[0] as tf.Tensor2D), l.b);
  }

  /** The channel counts LRN normalises apart: each tower's maps on their own, as the project's network does. */
  lrnParts(channels: number): number[] {
    return towerSplit(channels).filter((n) => n > 0);
  }

  /** LRN within each tower's half of the channels (its window never reaches the other tower's maps). */
  lrn(x: tf.Tensor4D): tf.Tensor4D {
    const p = this.spec.lrn;
    const one = (t: tf.Tensor4D) => tf.localResponseNormalization(t, Math.floor(p.n / 2), p.k, p.alpha, p.beta);
    const parts = this.lrnParts(x.shape[3]);
    return parts.length === 1 ? one(x) : tf.concat((tf.split(x, parts, 3) as tf.Tensor4D[]).map(one), 3);
  }

  pool(x: tf.Tensor4D): tf.Tensor4D {
    return tf.maxPool(x, this.spec.pool.size, this.spec.pool.stride, 'valid');
  }

  /** Logits [N, classes] for NHWC input; dropout masks (by layer name, [N, units]) switch training mode on. */
  logits(x: tf.Tensor4D, masks?: ReadonlyMap<string, tf.Tensor2D>): tf.Tensor2D {
    let h: tf.Tensor = x;
    for (const l of this.layers) {
      h = l.info.spec.kind === 'conv'
        ? this.conv(l, h as tf.Tensor4D)
        : this.linear(l, (h.rank === 2 ? h : tf.reshape(h, [h.shape[0], -1])) as tf.Tensor2D);
      for (const a of l.info.spec.after) {
        if (a === 'relu') h = tf.relu(h);
        else if (a === 'lrn') h = this.lrn(h as tf.Tensor4D);
        else if (a === 'pool') h = this.pool(h as tf.Tensor4D);
        else if (a === 'dropout' && masks) h = tf.mul(h, masks.get(l.info.name)!);
      }
    }
    return h as tf.Tensor2D;
  }

  /**
   * One-hot labels [N, classes], built on the host: on headless-gl's WebGL 1,
   * TensorFlow.js's `oneHot` of an int32 tensor reads every label as 0.
   */
  oneHot(labels: Int32Array): tf.Tensor2D {
    const K = this.spec.classes;
    const m = new Float32Array(labels.length * K);
    labels.forEach((l, n) => { m[n * K + l] = 1; });
    return tf.tensor2d(m, [labels.length, K]);
  }

  /** Mean softmax cross-entropy of the logits against one-hot labels. */
  loss(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
    return tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
  }

  /**
   * One SGD step, the paper's update:
   *   v <- momentum * v - weightDecay * lr * w - lr * g ;  w <- w + v
   * Returns the loss; reading it is the step's sync point.
   */
  trainStep(x: tf.Tensor4D, oneHot: tf.Tensor2D, masks: ReadonlyMap<string, tf.Tensor2D>, sgd: SgdParams): number {
    const vars = this.variables();
    const { value, grads } = tf.variableGrads(() => this.loss(this.logits(x, masks), oneHot), vars);
    tf.tidy(() => {
      for (const w of vars) {
        const v = this.velocity.get(w)!;
        const nv = tf.sub(tf.sub(tf.mul(v, sgd.momentum), tf.mul(w, sgd.weightDecay * sgd.lr)), tf.mul(grads[w.name], sgd.lr));
        v.assign(nv);
        w.assign(tf.add(w, nv));
      }
    });
    tf.dispose(Object.values(grads));
    const loss = value.dataSync()[0];
    value.dispose();
    return loss;
  }

  dispose(): void {
    tf.dispose(this.variables());
    tf.dispose([...this.velocity.values()]);
  }
}
