/**
 * ReLU, max-pooling and the SGD update as tight loops over Float32Arrays (the
 * reference's versions go through a callback per element). Same definitions
 * as reference/relu.ts, reference/pool.ts and reference/sgd.ts.
 */
import type { PoolParams, SgdParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import type { F32 } from './gemm.ts';

export const reluForward = (x: F32): F32 => {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
  return y;
};

export const reluBackward = (y: F32, dy: F32): F32 => {
  const dx = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  return dx;
};

export const multiply = (a: F32, b: F32): F32 => {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] * b[i];
  return y;
};

export const poolShape = (shape: readonly number[], p: PoolParams): number[] => {
  const [N, C, H, W] = shape;
  return [N, C, outSize(H, p.size, p.stride, 0), outSize(W, p.size, p.stride, 0)];
};

/**
 * For every window, the flat input index of its first maximum (row-major, so
 * ties go to the first, as in the reference).
 */
const argmaxes = (x: F32, shape: readonly number[], p: PoolParams): Int32Array => {
  const [N, C, H, W] = shape;
  const [, , OH, OW] = poolShape(shape, p);
  const arg = new Int32Array(N * C * OH * OW);
  let o = 0;
  for (let nc = 0; nc < N * C; nc++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++, o++) {
        let best = -Infinity;
        let at = -1;
        for (let ky = 0; ky < p.size; ky++) {
          const row = (nc * H + oy * p.stride + ky) * W + ox * p.stride;
          for (let kx = 0; kx < p.size; kx++) {
            if (x[row + kx] > best) { best = x[row + kx]; at = row + kx; }
          }
        }
        arg[o] = at;
      }
  return arg;
};

export const maxPoolForward = (x: F32, shape: readonly number[], p: PoolParams): F32 => {
  const arg = argmaxes(x, shape, p);
  const y = new Float32Array(arg.length);
  for (let o = 0; o < arg.length; o++) y[o] = x[arg[o]];
  return y;
};

export const maxPoolBackward = (x: F32, dy: F32, shape: readonly number[], p: PoolParams): F32 => {
  const arg = argmaxes(x, shape, p);
  const dx = new Float32Array(x.length);
  for (let o = 0; o < arg.length; o++) dx[arg[o]] += dy[o];
  return dx;
};

/** v <- momentum v - weightDecay lr w - lr g ; w <- w + v (paper section 5). */
export const sgd = (w: F32, v: F32, g: F32, p: SgdParams): { w: F32; v: F32 } => {
  const wn = new Float32Array(w.length);
  const vn = new Float32Array(w.length);
  const decay = p.weightDecay * p.lr;
  for (let i = 0; i < w.length; i++) {
    const vi = p.momentum * v[i] - decay * w[i] - p.lr * g[i];
    vn[i] = vi;
    wn[i] = w[i] + vi;
  }
  return { w: wn, v: vn };
};
