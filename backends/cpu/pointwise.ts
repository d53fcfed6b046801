/**
 * ReLU, max-pooling and the SGD update as tight loops over Float32Arrays (the
 * reference's versions go through a callback per element). Same definitions
 * as reference/relu.ts, reference/pool.ts and reference/sgd.ts. The ReLU and
 * pooling loops work on a range [lo, hi) (of elements, or of channel planes)
 * and write into the caller's output, so threads can share the work.
 */
import type { PoolParams, SgdParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import type { F32 } from './gemm.ts';

export const reluForward = (x: F32, y: F32, lo: number, hi: number): void => {
  for (let i = lo; i < hi; i++) y[i] = x[i] > 0 ? x[i] : 0;
};

export const reluBackward = (y: F32, dy: F32, dx: F32, lo: number, hi: number): void => {
  for (let i = lo; i < hi; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
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
 * For every window of planes [lo, hi) (a plane is one channel of one image),
 * the flat input index of its first maximum (row-major, so ties go to the
 * first, as in the reference), handed to `use` with the window's output index.
 */
const eachArgmax = (x: F32, shape: readonly number[], p: PoolParams, lo: number, hi: number, use: (o: number, at: number) => void): void => {
  const [, , H, W] = shape;
  const [, , OH, OW] = poolShape(shape, p);
  let o = lo * OH * OW;
  for (let nc = lo; nc < hi; nc++)
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
        use(o, at);
      }
};

export const maxPoolForward = (x: F32, y: F32, shape: readonly number[], p: PoolParams, lo: number, hi: number): void =>
  eachArgmax(x, shape, p, lo, hi, (o, at) => { y[o] = x[at]; });

/** Routes each window's gradient to its maximum (dx zeroed by the caller; windows of one plane stay in that plane). */
export const maxPoolBackward = (x: F32, dy: F32, dx: F32, shape: readonly number[], p: PoolParams, lo: number, hi: number): void =>
  eachArgmax(x, shape, p, lo, hi, (o, at) => { dx[at] += dy[o]; });

/** v <- momentum v - weightDecay lr w - lr g ; w <- w + v (paper section 5), for elements [lo, hi). */
export const sgd = (w: F32, v: F32, g: F32, wn: F32, vn: F32, p: SgdParams, lo: number, hi: number): void => {
  const decay = p.weightDecay * p.lr;
  for (let i = lo; i < hi; i++) {
    const vi = p.momentum * v[i] - decay * w[i] - p.lr * g[i];
    vn[i] = vi;
    wn[i] = w[i] + vi;
  }
};
