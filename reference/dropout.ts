/**
 * Dropout, the reference (paper section 4.2): during training each unit of fc6
 * and fc7 is kept with probability 1 - p. The mask is explicit (made from a
 * seeded generator by core/dropout.ts) and holds 0 for a dropped unit and the
 * keep scale 1 / (1 - p) for a kept one ("inverted dropout", so test time uses
 * every unit unscaled; equivalent to the paper's multiply-by-0.5 at test time).
 */
import type { Tensor } from '../core/tensor.ts';

export const dropout = (x: Tensor, mask: Tensor): Tensor => x.map((v, i) => v * mask.data[i]);

/** The same mask routes the gradient. */
export const dropoutGrad = (dy: Tensor, mask: Tensor): Tensor => dy.map((g, i) => g * mask.data[i]);
