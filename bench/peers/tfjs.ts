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
 * The grouped convolution, the LRN, the layouts, the one-hot and the update are
 * backends/tfjs/ops.ts, shared with the TensorFlow.js adapter; the backend
 * setup is backends/tfjs/setup.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type LayerInfo, type NetSpec, groupsOf, towerSplit } from '../../core/alexnet.ts';
import type { SgdParams } from '../../core/backend.ts';
import { biasName, type Params, weightName } from '../../core/params.ts';
import type { Tensor } from '../../core/tensor.ts';
import { filtersToTf, groupedConv2d, lrnNhwc, maxPoolNhwc, nchwToNhwc, oneHotHost, paperSgd } from '../../backends/tfjs/ops.ts';

export { setupTfjs, type TfjsBackend, type TfjsSetup } from '../../backends/tfjs/setup.ts';

const transpose2 = (src: Tensor, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows * cols);
  const d = src.data;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c];
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
export const toNhwc = (x: Tensor): tf.Tensor4D =>
  tf.tidy(() => nchwToNhwc(tf.tensor4d(Float32Array.from(x.data), x.shape as [number, number, number, number])));

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
        const parts = tf.tidy(() => filtersToTf(tf.tensor4d(Float32Array.from(w.data), w.shape as [number, number, number, number]), g));
        const ws = parts.map((t, i) => tf.variable(t, true, `${id}.${r.name}.weight.${i}`));
        tf.dispose(parts);
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
    return tf.add(groupedConv2d(x, l.w as tf.Tensor4D[], spec.stride, spec.pad), l.b);
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
    const one = (t: tf.Tensor4D) => lrnNhwc(t, this.spec.lrn);
    const parts = this.lrnParts(x.shape[3]);
    return parts.length === 1 ? one(x) : tf.concat((tf.split(x, parts, 3) as tf.Tensor4D[]).map(one), 3);
  }

  pool(x: tf.Tensor4D): tf.Tensor4D {
    return maxPoolNhwc(x, this.spec.pool.size, this.spec.pool.stride);
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
    return oneHotHost(labels, this.spec.classes);
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
    const value = this.step(x, oneHot, masks, sgd);
    const loss = value.dataSync()[0];
    value.dispose();
    return loss;
  }

  /** The same step, the loss read as webgpu's users read it (`await data()`). */
  async trainStepLater(x: tf.Tensor4D, oneHot: tf.Tensor2D, masks: ReadonlyMap<string, tf.Tensor2D>, sgd: SgdParams): Promise<number> {
    const value = this.step(x, oneHot, masks, sgd);
    const loss = (await value.data())[0];
    value.dispose();
    return loss;
  }

  /** The step's work, its loss left unread. */
  private step(x: tf.Tensor4D, oneHot: tf.Tensor2D, masks: ReadonlyMap<string, tf.Tensor2D>, sgd: SgdParams): tf.Scalar {
    const vars = this.variables();
    const { value, grads } = tf.variableGrads(() => this.loss(this.logits(x, masks), oneHot), vars);
    tf.tidy(() => {
      for (const w of vars) {
        const v = this.velocity.get(w)!;
        const next = paperSgd<tf.Tensor>(w, v, grads[w.name], sgd);
        v.assign(next.v);
        w.assign(next.w);
      }
    });
    tf.dispose(Object.values(grads));
    return value;
  }

  dispose(): void {
    tf.dispose(this.variables());
    tf.dispose([...this.velocity.values()]);
  }
}
