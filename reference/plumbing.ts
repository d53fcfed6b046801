/**
 * Moving values around without arithmetic: concatenation and slicing along the
 * channel axis (how the two towers' maps are joined where a layer reads both;
 * core/host.ts, which the executor uses too), and elementwise addition (where
 * gradients from two consumers meet).
 */
import { concatHost, sliceHost } from '../core/host.ts';
import type { Tensor } from '../core/tensor.ts';

/** [N, C_i, ...] for each input -> [N, sum C_i, ...]. */
export const concat = concatHost;
/** Channels [start, start + count) of axis 1. */
export const slice = sliceHost;

export const add = (a: Tensor, b: Tensor): Tensor => a.map((v, i) => v + b.data[i]);
