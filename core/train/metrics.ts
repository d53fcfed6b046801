/**
 * Top-k error, the paper's measures (top-1 and top-5): the fraction of images
 * whose correct label is not among the k highest scores. Scores may be logits
 * or probabilities; only their order matters. Ties count against the image
 * (a label tied with the k-th score is not "in" the top k unless it is above it),
 * and so does a score that is not a number.
 */
import type { Tensor } from '../tensor.ts';

/** How many of the images (rows of `scores`, [N, K]) miss their label in the top k. */
export const topKMisses = (scores: Tensor, labels: ArrayLike<number>, k: number): number => {
  const [N, K] = scores.shape;
  let misses = 0;
  for (let n = 0; n < N; n++) {
    const row = n * K;
    const mine = scores.data[row + labels[n]];
    let above = 0;
    for (let j = 0; j < K; j++) {
      const v = scores.data[row + j];
      if (v > mine || (v === mine && j < labels[n])) above++;
    }
    if (above >= k || Number.isNaN(mine)) misses++;
  }
  return misses;
};

export const topKError = (scores: Tensor, labels: ArrayLike<number>, k: number): number =>
  topKMisses(scores, labels, k) / scores.shape[0];

/** Mean of a stream of values, weighted by counts (the running loss and error of the progress line). */
export class RunningMean {
  private sum = 0;
  private n = 0;
  add(value: number, weight = 1): void {
    this.sum += value * weight;
    this.n += weight;
  }
  get value(): number {
    return this.n === 0 ? NaN : this.sum / this.n;
  }
  get count(): number {
    return this.n;
  }
}
