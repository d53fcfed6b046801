/**
 * Convolution, the reference. Paper section 3.5 and Figure 2: every kernel of a
 * layer slides over the input maps with a stride; with two towers, conv2, conv4
 * and conv5 only see the maps of their own tower, which on one device is a
 * *grouped* convolution with 2 groups.
 *
 *   y[n, f, oy, ox] = b[f] + sum_{c in group(f), ky, kx} w[f, c, ky, kx] * x[n, c, oy*s - p + ky, ox*s - p + kx]
 *
 * x is [N, C, H, W], w is [F, C/groups, K, K], y is [N, F, OH, OW]; positions
 * outside the input (the padding) read as zero. Sums are taken in float64.
 */
import type { ConvParams } from '../core/backend.ts';
import { outSize } from '../core/backend.ts';
import { allocate, type Shape, Tensor } from '../core/tensor.ts';

interface Geometry {
  N: number; C: number; H: number; W: number;
  F: number; K: number; OH: number; OW: number;
  /** Input channels per group, output channels per group. */
  Cg: number; Fg: number;
}

const geometry = (xShape: Shape, wShape: Shape, p: ConvParams): Geometry => {
  const [N, C, H, W] = xShape;
  const [F, , K] = wShape;
  return {
    N, C, H, W, F, K,
    OH: outSize(H, K, p.stride, p.pad),
    OW: outSize(W, K, p.stride, p.pad),
    Cg: C / p.groups,
    Fg: F / p.groups,
  };
};

export const conv2d = (x: Tensor, w: Tensor, b: Tensor, p: ConvParams): Tensor => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg } = geometry(x.shape, w.shape, p);
  const y = allocate(x.dtype, N * F * OH * OW);
  for (let n = 0; n < N; n++)
    for (let f = 0; f < F; f++) {
      const c0 = Math.floor(f / Fg) * Cg; // first input channel of f's group
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let sum = b.data[f];
          for (let c = 0; c < Cg; c++)
            for (let ky = 0; ky < K; ky++) {
              const iy = oy * p.stride - p.pad + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < K; kx++) {
                const ix = ox * p.stride - p.pad + kx;
                if (ix < 0 || ix >= W) continue;
                sum += w.data[((f * Cg + c) * K + ky) * K + kx] * x.data[((n * C + c0 + c) * H + iy) * W + ix];
              }
            }
          y[((n * F + f) * OH + oy) * OW + ox] = sum;
        }
    }
  return Tensor.trusted([N, F, OH, OW], y);
};

/** dL/dx: every output position hands its gradient back to the inputs it read. */
export const conv2dGradInput = (dy: Tensor, w: Tensor, xShape: Shape, p: ConvParams): Tensor => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg } = geometry(xShape, w.shape, p);
  const dx = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let f = 0; f < F; f++) {
      const c0 = Math.floor(f / Fg) * Cg;
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const g = dy.data[((n * F + f) * OH + oy) * OW + ox];
          for (let c = 0; c < Cg; c++)
            for (let ky = 0; ky < K; ky++) {
              const iy = oy * p.stride - p.pad + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < K; kx++) {
                const ix = ox * p.stride - p.pad + kx;
                if (ix < 0 || ix >= W) continue;
                dx[((n * C + c0 + c) * H + iy) * W + ix] += g * w.data[((f * Cg + c) * K + ky) * K + kx];
              }
            }
        }
    }
  return Tensor.trusted(xShape, dy.dtype === 'float64' ? dx : Float32Array.from(dx));
};

/** dL/dw: each weight's gradient is the sum, over the batch and every position, of dy times the input it met. */
export const conv2dGradFilter = (x: Tensor, dy: Tensor, wShape: Shape, p: ConvParams): Tensor => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg } = geometry(x.shape, wShape, p);
  const dw = allocate(x.dtype, F * Cg * K * K);
  for (let f = 0; f < F; f++) {
    const c0 = Math.floor(f / Fg) * Cg;
    for (let c = 0; c < Cg; c++)
      for (let ky = 0; ky < K; ky++)
        for (let kx = 0; kx < K; kx++) {
          let sum = 0;
          for (let n = 0; n < N; n++)
            for (let oy = 0; oy < OH; oy++) {
              const iy = oy * p.stride - p.pad + ky;
              if (iy < 0 || iy >= H) continue;
              for (let ox = 0; ox < OW; ox++) {
                const ix = ox * p.stride - p.pad + kx;
                if (ix < 0 || ix >= W) continue;
                sum += dy.data[((n * F + f) * OH + oy) * OW + ox] * x.data[((n * C + c0 + c) * H + iy) * W + ix];
              }
            }
          dw[((f * Cg + c) * K + ky) * K + kx] = sum;
        }
  }
  return Tensor.trusted(wShape, dw);
};

/** dL/db: the sum of dy over every axis but the channel axis (1). Serves fc layers too. */
export const biasGrad = (dy: Tensor): Tensor => {
  const [N, F] = dy.shape;
  const inner = dy.size / (N * F);
  const db = allocate(dy.dtype, F);
  for (let f = 0; f < F; f++) {
    let sum = 0;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < inner; i++) sum += dy.data[(n * F + f) * inner + i];
    db[f] = sum;
  }
  return Tensor.trusted([F], db);
};
