/**
 * alexnet-ts/train: the paper's training recipe (section 5): the loop, the
 * learning-rate schedule (plateau drops or fixed steps), top-1/top-5 metrics,
 * and the ten-crop evaluation.
 */
export * from './loop.ts';
export * from './schedule.ts';
export * from './metrics.ts';
export * from './evaluate.ts';
