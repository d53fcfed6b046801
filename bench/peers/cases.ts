/**
 * The peers' profile: the same kernels as the project's profile (bench/ours.ts),
 * one context, grouped layers split and concatenated as the peer network does,
 * on the same shapes in NHWC. Backward kernels that TensorFlow.js has no public
 * op for (Conv2DBackpropFilter, LRNGrad, MaxPoolGrad) are called by kernel name,
 * as its gradient functions call them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelCase, Syncer } from '../profile.ts';
import { Rng } from '../../core/rng.ts';
import type { SgdParams } from '../../core/backend.ts';
import type { TfAlexnet } from './tfjs.ts';

export const tensorSyncer: Syncer<tf.Tensor> = {
  sync(ts) {
    for (const t of ts) {
      tf.tidy(() => {
        const flat = t.rank === 0 ? tf.reshape(t, [1, 1]) : t.rank === 1 ? tf.reshape(t, [1, t.size]) : tf.reshape(t, [t.shape[0], t.size / t.shape[0]]);
        tf.slice(flat, [0, 0], [-1, 1]).dataSync();
      });
    }
  },
  dispose(ts) {
    tf.dispose([...new Set(ts)]);
  },
};

const runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;

export class PeerCases {
  private readonly rng: Rng;
  private readonly held: tf.Tensor[] = [];

  constructor(private readonly net: TfAlexnet, private readonly N: number, seed: number, private readonly backward: boolean, private readonly sgd: SgdParams) {
    this.rng = new Rng(seed).derive('profile');
  }

  private rand(shape: number[], std = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = this.rng.normal(0, std);
    const t = tf.tensor(d, shape);
    this.held.push(t);
    return t;
  }

  private keep<T extends tf.Tensor>(t: T): T { this.held.push(t); return t; }

  release(): void {
    tf.dispose(this.held.splice(0));
  }

  layer(i: number): KernelCase<tf.Tensor>[] {
    const net = this.net;
    const L = net.layers[i];
    const r = L.info;
    const l = r.spec;
    const N = this.N;
    const cases: KernelCase<tf.Tensor>[] = [];
    const add = (kernel: string, pass: KernelCase<tf.Tensor>['pass'], macs: number, run: () => tf.Tensor[]) =>
      cases.push({ layer: r.name, kernel, pass, macs, run: () => tf.tidy(run) });
    const nhwc = (s: readonly number[]) => (s.length === 3 ? [N, s[1], s[2], s[0]] : [N, s[0]]);
    const x = this.rand(nhwc(r.inShape));
    let flat = x;
    let pre: tf.Tensor;
    if (l.kind === 'conv') {
      add('conv2d', 'forward', r.macs * N, () => [net.conv(L, x as tf.Tensor4D)]);
      pre = this.keep(net.conv(L, x as tf.Tensor4D));
    } else {
      if (x.rank > 2) {
        add('reshape', 'forward', 0, () => [tf.reshape(x, [N, -1])]);
        flat = this.keep(tf.reshape(x, [N, -1]));
      }
      add('linear', 'forward', r.macs * N, () => [net.linear(L, flat as tf.Tensor2D)]);
      pre = this.keep(net.linear(L, flat as tf.Tensor2D));
    }
    const after: { kind: string; x: tf.Tensor; y: tf.Tensor; mask?: tf.Tensor }[] = [];
    let h = pre;
    for (const a of l.after) {
      const xa = h;
      let y: tf.Tensor;
      let mask: tf.Tensor | undefined;
      if (a === 'relu') {
        add('relu', 'forward', 0, () => [tf.relu(xa)]);
        y = tf.relu(xa);
      } else if (a === 'lrn') {
        add('lrn', 'forward', 0, () => [net.lrn(xa as tf.Tensor4D)]);
        y = net.lrn(xa as tf.Tensor4D);
      } else if (a === 'pool') {
        add('maxPool', 'forward', 0, () => [net.pool(xa as tf.Tensor4D)]);
        y = net.pool(xa as tf.Tensor4D);
      } else {
        if (!this.backward) continue;
        const keep = 1 - net.spec.dropout;
        const m = new Float32Array(xa.size);
        for (let k = 0; k < m.length; k++) m[k] = this.rng.bernoulli(keep) ? 1 / keep : 0;
        const mt = this.keep(tf.tensor(m, xa.shape));
        mask = mt;
        add('dropout', 'forward', 0, () => [tf.mul(xa, mt)]);
        y = tf.mul(xa, mt);
      }
      this.keep(y);
      after.push({ kind: a, x: xa, y, mask });
      h = y;
    }
    const last = i === net.layers.length - 1;
    if (last && this.backward) {
      const labels = Int32Array.from({ length: N }, () => this.rng.int(net.spec.classes));
      const oh = this.keep(net.oneHot(labels));
      const logits = h as tf.Tensor2D;
      add('softmaxCrossEntropy', 'forward', 0, () => {
        const p = tf.softmax(logits);
        return [net.loss(logits, oh), p, tf.div(tf.sub(p, oh), N)];
      });
    }
    if (!this.backward) return cases;

    for (let k = after.length - 1; k >= 0; k--) {
      const s = after[k];
      const dy = this.rand(s.y.shape);
      if (s.kind === 'relu') add('reluGrad', 'backward', 0, () => [tf.mul(dy, tf.step(s.y))]);
      else if (s.kind === 'lrn') {
        // Within each tower's half, as the forward: the halves of x and y are the forward's, dy is split here.
        const p = net.spec.lrn;
        const sizes = net.lrnParts(s.x.shape[3]!);
        const xs = sizes.length === 1 ? [s.x] : tf.split(s.x, sizes, 3).map((t) => this.keep(t));
        const ys = sizes.length === 1 ? [s.y] : tf.split(s.y, sizes, 3).map((t) => this.keep(t));
        add('lrnGrad', 'backward', 0, () => {
          const dys = sizes.length === 1 ? [dy] : tf.split(dy, sizes, 3);
          const gs = dys.map((d, j) => runKernel('LRNGrad', { x: xs[j], y: ys[j], dy: d }, { depthRadius: Math.floor(p.n / 2), bias: p.k, alpha: p.alpha, beta: p.beta }));
          return [gs.length === 1 ? gs[0] : tf.concat(gs, 3)];
        });
      } else if (s.kind === 'pool') {
        const p = net.spec.pool;
        add('maxPoolGrad', 'backward', 0, () => [runKernel('MaxPoolGrad', { dy, input: s.x, output: s.y }, { filterSize: p.size, strides: p.stride, pad: 'valid', dimRoundingMode: undefined })]);
      } else add('dropoutGrad', 'backward', 0, () => [tf.mul(dy, s.mask!)]);
    }
    const dpre = this.rand(pre.shape);
    const first = i === 0;
    if (l.kind === 'conv') {
      const g = L.groups;
      const split = <T extends tf.Tensor>(t: T): T[] => (g === 1 ? [t] : (tf.split(t, g, 3) as T[]));
      const attrs = { strides: l.stride, pad: l.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      if (!first) {
        add('conv2dGradInput', 'backward', r.macs * N, () => {
          const parts = split(dpre).map((d, gi) => runKernel('Conv2DBackpropInput', { dy: d, filter: L.w[gi] }, { ...attrs, inputShape: [N, x.shape[1]!, x.shape[2]!, x.shape[3]! / g] }));
          return [parts.length === 1 ? parts[0] : tf.concat(parts, 3)];
        });
      }
      add('conv2dGradFilter', 'backward', r.macs * N, () => {
        const xs = split(x);
        return split(dpre).map((d, gi) => runKernel('Conv2DBackpropFilter', { x: xs[gi], dy: d }, { ...attrs, filterShape: L.w[gi].shape }));
      });
      add('biasGrad', 'backward', 0, () => [tf.sum(dpre, [0, 1, 2])]);
    } else {
      if (!first) add('linearGradInput', 'backward', r.macs * N, () => [tf.matMul(dpre as tf.Tensor2D, L.w[0] as tf.Tensor2D, false, true)]);
      add('linearGradWeight', 'backward', r.macs * N, () => [tf.matMul(flat as tf.Tensor2D, dpre as tf.Tensor2D, true, false)]);
      add('biasGrad', 'backward', 0, () => [tf.sum(dpre, 0)]);
      if (flat !== x) {
        const dflat = this.rand(flat.shape);
        add('reshape', 'backward', 0, () => [tf.reshape(dflat, x.shape)]);
      }
    }
    const vars = [...L.w, L.b];
    const grads = vars.map((v) => this.rand(v.shape, 0.01));
    const vels = vars.map((v) => this.rand(v.shape, 0.001));
    const { lr, momentum, weightDecay } = this.sgd;
    add('sgdUpdate', 'update', 0, () => vars.flatMap((w, k) => {
      const nv = tf.sub(tf.sub(tf.mul(vels[k], momentum), tf.mul(w, weightDecay * lr)), tf.mul(grads[k], lr));
      return [nv, tf.add(w, nv)];
    }));
    return cases;
  }
}
