/**
 * A fast CPU backend: the same kernels as the reference, in float32, with
 * convolutions lowered to matrix products (im2col / col2im). The products run
 * in a WebAssembly SIMD kernel (./gemm.wat, through ./simd.ts), with plain
 * contiguous loops (./gemm.ts) for shapes too small to pay for the copies.
 * LRN runs over whole channel planes (./lrn.ts), the element-wise kernels as
 * tight loops (./pointwise.ts). Single-threaded. It is held to the reference
 * by properties/cpu-backend.test.ts.
 */
import type { Backend, ConvParams, Handle, LossResult, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { outSize, own } from '../../core/backend.ts';
import { type Shape, sizeOf, Tensor } from '../../core/tensor.ts';
import { biasGrad } from '../../reference/conv.ts';
import { add, concat, slice } from '../../reference/plumbing.ts';
import { softmaxCrossEntropy } from '../../reference/softmax.ts';
import type { F32 } from './gemm.ts';
import { lrnBackward, lrnForward } from './lrn.ts';
import { maxPoolBackward, maxPoolForward, multiply, poolShape, reluBackward, reluForward, sgd } from './pointwise.ts';
import { simdGemmNN as gemmNN, simdGemmNT as gemmNT, simdGemmTN as gemmTN } from './simd.ts';

class CpuHandle implements Handle {
  constructor(readonly owner: CpuBackend, readonly tensor: Tensor) {}
  get shape(): Shape { return this.tensor.shape; }
}

interface ConvGeometry {
  N: number; C: number; H: number; W: number; F: number; K: number;
  OH: number; OW: number; Cg: number; Fg: number; G: number;
  /** Rows of the unfolded input (Cg * K * K) and its columns (OH * OW). */
  rows: number; cols: number;
}

const geometry = (xShape: Shape, wShape: Shape, p: ConvParams): ConvGeometry => {
  const [N, C, H, W] = xShape;
  const [F, Cg, K] = wShape;
  const OH = outSize(H, K, p.stride, p.pad);
  const OW = outSize(W, K, p.stride, p.pad);
  return { N, C, H, W, F, K, OH, OW, Cg, Fg: F / p.groups, G: p.groups, rows: Cg * K * K, cols: OH * OW };
};

/** Unfolds the receptive fields of Cg channels of one image (from x0) into col [Cg*K*K, OH*OW]. */
const im2col = (x: F32, x0: number, g: ConvGeometry, p: ConvParams, col: F32): void => {
  const { H, W, K, OH, OW, Cg, cols } = g;
  let r = 0;
  for (let c = 0; c < Cg; c++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++, r++) {
        const base = r * cols;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * p.stride - p.pad + ky;
          const row = base + oy * OW;
          if (iy < 0 || iy >= H) { col.fill(0, row, row + OW); continue; }
          const src = x0 + (c * H + iy) * W;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox * p.stride - p.pad + kx;
            col[row + ox] = ix >= 0 && ix < W ? x[src + ix] : 0;
          }
        }
      }
};

/** The adjoint of im2col: adds every column entry back to the input pixel it came from. */
const col2im = (col: F32, g: ConvGeometry, p: ConvParams, dx: F32, x0: number): void => {
  const { H, W, K, OH, OW, Cg, cols } = g;
  let r = 0;
  for (let c = 0; c < Cg; c++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++, r++) {
        const base = r * cols;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * p.stride - p.pad + ky;
          if (iy < 0 || iy >= H) continue;
          const dst = x0 + (c * H + iy) * W;
          const row = base + oy * OW;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox * p.stride - p.pad + kx;
            if (ix >= 0 && ix < W) dx[dst + ix] += col[row + ox];
          }
        }
      }
};

export class CpuBackend implements Backend {
  /** One scratch buffer for unfolded inputs, grown on demand. */
  private scratch = new Float32Array(0);

  constructor(readonly name = 'cpu') {}

  private t(h: Handle): Tensor { own(this, h); return (h as CpuHandle).tensor; }
  private f(h: Handle): F32 { return this.t(h).data as F32; }
  private h(t: Tensor): Handle { return new CpuHandle(this, t.as('float32')); }
  private col(size: number): F32 {
    if (this.scratch.length < size) this.scratch = new Float32Array(size);
    return this.scratch;
  }

  upload(t: Tensor): Handle { return this.h(t); }
  download(h: Handle): Tensor { return this.t(h); }
  dispose(h: Handle): void { own(this, h); }
  liveCount(): number { return 0; }

  reshape(x: Handle, shape: Shape): Handle { return this.h(Tensor.trusted(shape, this.t(x).data)); }
  concat(xs: readonly Handle[]): Handle { return this.h(concat(xs.map((x) => this.t(x)))); }
  slice(x: Handle, start: number, count: number): Handle { return this.h(slice(this.t(x), start, count)); }
  add(a: Handle, b: Handle): Handle { return this.h(add(this.t(a), this.t(b))); }

  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle {
    const g = geometry(x.shape, w.shape, p);
    const [xs, ws, bs] = [this.f(x), this.f(w), this.f(b)];
    const y = new Float32Array(g.N * g.F * g.cols);
    const col = this.col(g.rows * g.cols);
    for (let n = 0; n < g.N; n++)
      for (let gi = 0; gi < g.G; gi++) {
        im2col(xs, (n * g.C + gi * g.Cg) * g.H * g.W, g, p, col);
        const y0 = (n * g.F + gi * g.Fg) * g.cols;
        for (let f = 0; f < g.Fg; f++) y.fill(bs[gi * g.Fg + f], y0 + f * g.cols, y0 + (f + 1) * g.cols);
        gemmNN(g.Fg, g.cols, g.rows, ws, gi * g.Fg * g.rows, col, 0, y, y0);
      }
    return this.h(Tensor.trusted([g.N, g.F, g.OH, g.OW], y));
  }

  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle {
    const g = geometry(xShape, w.shape, p);
    const [dys, ws] = [this.f(dy), this.f(w)];
    const dx = new Float32Array(sizeOf(xShape));
    const col = this.col(g.rows * g.cols);
    for (let n = 0; n < g.N; n++)
      for (let gi = 0; gi < g.G; gi++) {
        col.fill(0, 0, g.rows * g.cols);
        gemmTN(g.rows, g.cols, g.Fg, ws, gi * g.Fg * g.rows, dys, (n * g.F + gi * g.Fg) * g.cols, col, 0);
        col2im(col, g, p, dx, (n * g.C + gi * g.Cg) * g.H * g.W);
      }
    return this.h(Tensor.trusted(xShape, dx));
  }

  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle {
    const g = geometry(x.shape, wShape, p);
    const [xs, dys] = [this.f(x), this.f(dy)];
    const dw = new Float32Array(sizeOf(wShape));
    const col = this.col(g.rows * g.cols);
    for (let n = 0; n < g.N; n++)
      for (let gi = 0; gi < g.G; gi++) {
        im2col(xs, (n * g.C + gi * g.Cg) * g.H * g.W, g, p, col);
        gemmNT(g.Fg, g.rows, g.cols, dys, (n * g.F + gi * g.Fg) * g.cols, col, 0, dw, gi * g.Fg * g.rows);
      }
    return this.h(Tensor.trusted(wShape, dw));
  }

  biasGrad(dy: Handle): Handle { return this.h(biasGrad(this.t(dy))); }

  linear(x: Handle, w: Handle, b: Handle): Handle {
    const [N, K] = x.shape;
    const M = w.shape[0];
    const bs = this.f(b);
    const y = new Float32Array(N * M);
    for (let n = 0; n < N; n++) y.set(bs, n * M);
    gemmNT(N, M, K, this.f(x), 0, this.f(w), 0, y, 0);
    return this.h(Tensor.trusted([N, M], y));
  }

  linearGradInput(dy: Handle, w: Handle): Handle {
    const [N, M] = dy.shape;
    const K = w.shape[1];
    const dx = new Float32Array(N * K);
    gemmNN(N, K, M, this.f(dy), 0, this.f(w), 0, dx, 0);
    return this.h(Tensor.trusted([N, K], dx));
  }

  linearGradWeight(x: Handle, dy: Handle): Handle {
    const [N, K] = x.shape;
    const M = dy.shape[1];
    const dw = new Float32Array(M * K);
    gemmTN(M, K, N, this.f(dy), 0, this.f(x), 0, dw, 0);
    return this.h(Tensor.trusted([M, K], dw));
  }

  private make(shape: Shape, data: F32): Handle { return new CpuHandle(this, Tensor.trusted(shape, data)); }

  relu(x: Handle): Handle { return this.make(x.shape, reluForward(this.f(x))); }
  reluGrad(y: Handle, dy: Handle): Handle { return this.make(y.shape, reluBackward(this.f(y), this.f(dy))); }
  lrn(x: Handle, p: LrnParams): Handle { return this.make(x.shape, lrnForward(this.f(x), x.shape, p)); }
  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle { return this.make(x.shape, lrnBackward(this.f(x), this.f(dy), x.shape, p)); }
  maxPool(x: Handle, p: PoolParams): Handle { return this.make(poolShape(x.shape, p), maxPoolForward(this.f(x), x.shape, p)); }
  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle { return this.make(x.shape, maxPoolBackward(this.f(x), this.f(dy), x.shape, p)); }
  dropout(x: Handle, mask: Handle): Handle { return this.make(x.shape, multiply(this.f(x), this.f(mask))); }
  dropoutGrad(dy: Handle, mask: Handle): Handle { return this.make(dy.shape, multiply(this.f(dy), this.f(mask))); }

  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult {
    const r = softmaxCrossEntropy(this.t(logits), labels);
    return { loss: r.loss, probs: this.h(r.probs), dlogits: this.h(r.dlogits) };
  }
  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle } {
    const r = sgd(this.f(w), this.f(v), this.f(g), p);
    return { w: this.make(w.shape, r.w), v: this.make(v.shape, r.v) };
  }
}

export const createCpuBackend = (name?: string): Backend => new CpuBackend(name);
