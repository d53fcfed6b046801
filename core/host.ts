/**
 * Moving host tensors' values around without arithmetic, along the channel
 * axis (axis 1): concatenation (how the two towers' maps are joined where a
 * layer reads both) and slicing (how a tower takes its half). The reference
 * backend's concat and slice are these; the executor slices dropout masks with
 * them.
 */
import { allocate, type DType, Tensor } from './tensor.ts';

/** Where a result's values go: fresh memory of the input's dtype unless a backend brings its own. */
export type Allocator = (dtype: DType, n: number) => Float32Array | Float64Array;

/** [N, C_i, ...] for each input -> [N, sum C_i, ...]. */
export const concatHost = (xs: readonly Tensor[], alloc: Allocator = allocate): Tensor => {
  const N = xs[0].shape[0];
  const rest = xs[0].shape.slice(2);
  const inner = rest.reduce((a, b) => a * b, 1);
  const C = xs.reduce((s, x) => s + x.shape[1], 0);
  const y = alloc(xs[0].dtype, N * C * inner);
  for (let n = 0; n < N; n++) {
    let c0 = 0;
    for (const x of xs) {
      const block = x.shape[1] * inner;
      y.set(x.data.subarray(n * block, (n + 1) * block), (n * C + c0) * inner);
      c0 += x.shape[1];
    }
  }
  return Tensor.trusted([N, C, ...rest], y);
};

/** Channels [start, start + count) of axis 1. */
export const sliceHost = (x: Tensor, start: number, count: number, alloc: Allocator = allocate): Tensor => {
  const [N, C, ...rest] = x.shape;
  const inner = rest.reduce((a, b) => a * b, 1);
  const y = alloc(x.dtype, N * count * inner);
  for (let n = 0; n < N; n++) {
    y.set(x.data.subarray((n * C + start) * inner, (n * C + start + count) * inner), n * count * inner);
  }
  return Tensor.trusted([N, count, ...rest], y);
};

