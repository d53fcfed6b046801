/**
 * Fully connected layers, the reference (fc6, fc7, fc8; paper section 3.5).
 *
 *   y[n, m] = b[m] + sum_k x[n, k] * w[m, k]        (y = x w^T + b)
 *
 * x is [N, K], w is [M, K] (one row per unit), y is [N, M].
 */
import { allocate, Tensor } from '../core/tensor.ts';

export const linear = (x: Tensor, w: Tensor, b: Tensor): Tensor => {
  const [N, K] = x.shape;
  const M = w.shape[0];
  const y = allocate(x.dtype, N * M);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let sum = b.data[m];
      for (let k = 0; k < K; k++) sum += x.data[n * K + k] * w.data[m * K + k];
      y[n * M + m] = sum;
    }
  return Tensor.trusted([N, M], y);
};

/** dL/dx = dy w : [N, M] x [M, K]. */
export const linearGradInput = (dy: Tensor, w: Tensor): Tensor => {
  const [N, M] = dy.shape;
  const K = w.shape[1];
  const dx = allocate(dy.dtype, N * K);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      let sum = 0;
      for (let m = 0; m < M; m++) sum += dy.data[n * M + m] * w.data[m * K + k];
      dx[n * K + k] = sum;
    }
  return Tensor.trusted([N, K], dx);
};

/** dL/dw = dy^T x : [M, N] x [N, K], summed over the batch. */
export const linearGradWeight = (x: Tensor, dy: Tensor): Tensor => {
  const [N, K] = x.shape;
  const M = dy.shape[1];
  const dw = allocate(x.dtype, M * K);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k++) {
      let sum = 0;
      for (let n = 0; n < N; n++) sum += dy.data[n * M + m] * x.data[n * K + k];
      dw[m * K + k] = sum;
    }
  return Tensor.trusted([M, K], dw);
};
