/**
 * Softmax cross-entropy, the reference (paper section 5: training maximises the
 * mean log-probability of the correct label, i.e. multinomial logistic regression).
 *
 *   p[n, k] = exp(z[n, k] - max_k z[n, k]) / sum_k exp(z[n, k] - max_k z[n, k])
 *   L = -(1/N) sum_n log p[n, label[n]]
 *   dL/dz[n, k] = (p[n, k] - [k = label[n]]) / N
 */
import { allocate, Tensor } from '../core/tensor.ts';

export const softmax = (z: Tensor): Tensor => {
  const [N, K] = z.shape;
  const p = allocate(z.dtype, N * K);
  for (let n = 0; n < N; n++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, z.data[n * K + k]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z.data[n * K + k] - max);
    for (let k = 0; k < K; k++) p[n * K + k] = Math.exp(z.data[n * K + k] - max) / sum;
  }
  return Tensor.trusted([N, K], p);
};

export const softmaxCrossEntropy = (z: Tensor, labels: Int32Array): { loss: number; probs: Tensor; dlogits: Tensor } => {
  const [N, K] = z.shape;
  const probs = softmax(z);
  let loss = 0;
  const dz = allocate(z.dtype, N * K);
  for (let n = 0; n < N; n++) {
    // log p computed from the logits (log-sum-exp), not from the rounded p.
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, z.data[n * K + k]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z.data[n * K + k] - max);
    loss -= z.data[n * K + labels[n]] - max - Math.log(sum);
    for (let k = 0; k < K; k++) dz[n * K + k] = (probs.data[n * K + k] - (k === labels[n] ? 1 : 0)) / N;
  }
  return { loss: loss / N, probs, dlogits: Tensor.trusted([N, K], dz) };
};
