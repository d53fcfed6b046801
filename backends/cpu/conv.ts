/**
 * Convolution lowered to matrix products (im2col / col2im), one image at a
 * time, over a range of images [lo, hi) so that the batch can be shared out
 * between threads (./threads.ts). Each thread keeps its own scratch buffer
 * for the unfolded input.
 */
import type { ConvParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import type { Shape } from '../../core/tensor.ts';
import type { F32 } from './gemm.ts';
import { simdGemmNT as gemmNT, simdGemmTN as gemmTN, simdGemmWeightsNN } from './simd.ts';

export interface ConvGeometry {
  N: number; C: number; H: number; W: number; F: number; K: number;
  OH: number; OW: number; Cg: number; Fg: number; G: number;
  /** Rows of the unfolded input (Cg * K * K) and its columns (OH * OW). */
  rows: number; cols: number;
  stride: number; pad: number;
}

export const geometry = (xShape: Shape, wShape: Shape, p: ConvParams): ConvGeometry => {
  const [N, C, H, W] = xShape;
  const [F, Cg, K] = wShape;
  const OH = outSize(H, K, p.stride, p.pad);
  const OW = outSize(W, K, p.stride, p.pad);
  return { N, C, H, W, F, K, OH, OW, Cg, Fg: F / p.groups, G: p.groups, rows: Cg * K * K, cols: OH * OW, stride: p.stride, pad: p.pad };
};

/** This thread's scratch for one unfolded image group, grown on demand. */
let scratch = new Float32Array(0);
const colBuffer = (g: ConvGeometry): F32 => {
  if (scratch.length < g.rows * g.cols) scratch = new Float32Array(g.rows * g.cols);
  return scratch;
};

/** Unfolds the receptive fields of Cg channels of one image (from x0) into col [Cg*K*K, OH*OW]. */
const im2col = (x: F32, x0: number, g: ConvGeometry, col: F32): void => {
  const { H, W, K, OH, OW, Cg, cols, stride, pad } = g;
  let r = 0;
  for (let c = 0; c < Cg; c++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++, r++) {
        const base = r * cols;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * stride - pad + ky;
          const row = base + oy * OW;
          if (iy < 0 || iy >= H) { col.fill(0, row, row + OW); continue; }
          const src = x0 + (c * H + iy) * W;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox * stride - pad + kx;
            col[row + ox] = ix >= 0 && ix < W ? x[src + ix] : 0;
          }
        }
      }
};

/** The adjoint of im2col: adds every column entry back to the input pixel it came from. */
const col2im = (col: F32, g: ConvGeometry, dx: F32, x0: number): void => {
  const { H, W, K, OH, OW, Cg, cols, stride, pad } = g;
  let r = 0;
  for (let c = 0; c < Cg; c++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++, r++) {
        const base = r * cols;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H) continue;
          const dst = x0 + (c * H + iy) * W;
          const row = base + oy * OW;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox * stride - pad + kx;
            if (ix >= 0 && ix < W) dx[dst + ix] += col[row + ox];
          }
        }
      }
};

/** y = w * x + b for images [lo, hi): per image and group, W [Fg, rows] times col [rows, cols]. */
export const convForward = (x: F32, w: F32, b: F32, y: F32, g: ConvGeometry, lo: number, hi: number): void => {
  const col = colBuffer(g);
  for (let n = lo; n < hi; n++)
    for (let gi = 0; gi < g.G; gi++) {
      im2col(x, (n * g.C + gi * g.Cg) * g.H * g.W, g, col);
      const y0 = (n * g.F + gi * g.Fg) * g.cols;
      for (let f = 0; f < g.Fg; f++) y.fill(b[gi * g.Fg + f], y0 + f * g.cols, y0 + (f + 1) * g.cols);
      simdGemmWeightsNN(g.Fg, g.cols, g.rows, w, gi * g.Fg * g.rows, col, 0, y, y0);
    }
};

/** dx for images [lo, hi): col = W^T dy, folded back onto the input (dx zeroed by the caller). */
export const convGradInput = (dy: F32, w: F32, dx: F32, g: ConvGeometry, lo: number, hi: number): void => {
  const col = colBuffer(g);
  for (let n = lo; n < hi; n++)
    for (let gi = 0; gi < g.G; gi++) {
      col.fill(0, 0, g.rows * g.cols);
      gemmTN(g.rows, g.cols, g.Fg, w, gi * g.Fg * g.rows, dy, (n * g.F + gi * g.Fg) * g.cols, col, 0);
      col2im(col, g, dx, (n * g.C + gi * g.Cg) * g.H * g.W);
    }
};

/** Adds the filter gradient of images [lo, hi) into dw: dy [Fg, cols] times col^T. */
export const convGradFilter = (x: F32, dy: F32, dw: F32, g: ConvGeometry, lo: number, hi: number): void => {
  const col = colBuffer(g);
  for (let n = lo; n < hi; n++)
    for (let gi = 0; gi < g.G; gi++) {
      im2col(x, (n * g.C + gi * g.Cg) * g.H * g.W, g, col);
      gemmNT(g.Fg, g.rows, g.cols, dy, (n * g.F + gi * g.Fg) * g.cols, col, 0, dw, gi * g.Fg * g.rows);
    }
};
