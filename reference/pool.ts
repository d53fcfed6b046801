/**
 * Max-pooling, the reference (paper section 3.4): each output is the largest
 * value in a z x z window, windows placed every s pixels. With s < z the windows
 * overlap (the paper's z = 3, s = 2). No padding; sizes rounded down.
 */
import type { PoolParams } from '../core/backend.ts';
import { outSize } from '../core/backend.ts';
import { allocate, type Shape, Tensor } from '../core/tensor.ts';

/**
 * Visits every window: `f(out, argmax)` gets the flat output index and the flat
 * input index of the window's first maximum (row-major order, so ties go to the
 * first).
 */
const windows = (xShape: Shape, x: Tensor['data'], p: PoolParams, f: (out: number, argmax: number) => void): Shape => {
  const [N, C, H, W] = xShape;
  const OH = outSize(H, p.size, p.stride, 0);
  const OW = outSize(W, p.size, p.stride, 0);
  for (let nc = 0; nc < N * C; nc++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++) {
        let best = -Infinity;
        let arg = -1;
        for (let ky = 0; ky < p.size; ky++)
          for (let kx = 0; kx < p.size; kx++) {
            const i = (nc * H + oy * p.stride + ky) * W + ox * p.stride + kx;
            if (x[i] > best) { best = x[i]; arg = i; }
          }
        f((nc * OH + oy) * OW + ox, arg);
      }
  return [N, C, OH, OW];
};

export const maxPool = (x: Tensor, p: PoolParams): Tensor => {
  const [N, C, H, W] = x.shape;
  const y = allocate(x.dtype, N * C * outSize(H, p.size, p.stride, 0) * outSize(W, p.size, p.stride, 0));
  const shape = windows(x.shape, x.data, p, (o, arg) => { y[o] = x.data[arg]; });
  return Tensor.trusted(shape, y);
};

/** Each window's gradient goes to its maximum; overlapping windows add up. */
export const maxPoolGrad = (x: Tensor, dy: Tensor, p: PoolParams): Tensor => {
  const dx = new Float64Array(x.size);
  windows(x.shape, x.data, p, (o, arg) => { dx[arg] += dy.data[o]; });
  return Tensor.trusted(x.shape, x.dtype === 'float64' ? dx : Float32Array.from(dx));
};
