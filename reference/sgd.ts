/**
 * The paper's update rule (section 5), weight decay inside the update:
 *
 *   v <- momentum * v - weightDecay * lr * w - lr * g
 *   w <- w + v
 *
 * with momentum 0.9, weight decay 0.0005 and lr starting at 0.01 in the paper.
 */
import type { SgdParams } from '../core/backend.ts';
import type { Tensor } from '../core/tensor.ts';

export const sgdUpdate = (w: Tensor, v: Tensor, g: Tensor, p: SgdParams): { w: Tensor; v: Tensor } => {
  const vNext = v.map((vi, i) => p.momentum * vi - p.weightDecay * p.lr * w.data[i] - p.lr * g.data[i]);
  return { w: w.map((wi, i) => wi + vNext.data[i]), v: vNext };
};
