/**
 * Rectified linear units, the reference (paper section 3.1): f(x) = max(0, x),
 * after every convolutional and fully connected layer.
 */
import type { Tensor } from '../core/tensor.ts';

export const relu = (x: Tensor): Tensor => x.map((v) => (v > 0 ? v : 0));

/** The derivative is 1 where the output is positive, 0 elsewhere (0 at x = 0). */
export const reluGrad = (y: Tensor, dy: Tensor): Tensor => dy.map((g, i) => (y.data[i] > 0 ? g : 0));
