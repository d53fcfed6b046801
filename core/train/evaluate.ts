/**
 * Evaluation of a network on a labelled set: top-1 and top-5 error, from the
 * centre crop or from the paper's ten crops (four corners, centre and their
 * reflections, softmax outputs averaged).
 */
import type { Dataset } from '../data/dataset.ts';
import { centreView, makeBatch, type Preprocessing, tenCropViews, type View } from '../data/augment.ts';
import type { Network } from '../net.ts';
import { Tensor } from '../tensor.ts';
import { topKMisses } from './metrics.ts';

export interface Evaluation {
  readonly count: number;
  readonly top1: number;
  readonly top5: number;
  /** Averaged softmax outputs, [count, classes]. */
  readonly probs: Tensor;
}

export interface EvaluateOptions {
  /** 1: centre crop; 10: the paper's ten crops. */
  readonly crops: 1 | 10;
  readonly batch: number;
  /** Called after each batch with the images done so far. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The softmax outputs averaged over `views`, for images `indices`. */
export const averagedProbabilities = (net: Network, d: Dataset, indices: ArrayLike<number>, p: Preprocessing, views: readonly View[]): Tensor => {
  const K = net.spec.classes;
  const sum = new Float64Array(indices.length * K);
  for (const v of views) {
    const probs = net.probabilities(makeBatch(d, indices, p, Array(indices.length).fill(v)));
    for (let i = 0; i < sum.length; i++) sum[i] += probs.data[i];
  }
  return Tensor.trusted([indices.length, K], Float32Array.from(sum, (s) => s / views.length));
};

export const evaluate = (net: Network, d: Dataset, p: Preprocessing, o: EvaluateOptions): Evaluation => {
  const views = o.crops === 10 ? tenCropViews(p.size, p.crop) : [centreView(p.size, p.crop)];
  const K = net.spec.classes;
  const all = new Float32Array(d.count * K);
  let miss1 = 0;
  let miss5 = 0;
  for (let start = 0; start < d.count; start += o.batch) {
    const idx = Int32Array.from({ length: Math.min(o.batch, d.count - start) }, (_, i) => start + i);
    const probs = averagedProbabilities(net, d, idx, p, views);
    const labels = d.labels.subarray(start, start + idx.length);
    miss1 += topKMisses(probs, labels, 1);
    miss5 += topKMisses(probs, labels, 5);
    all.set(probs.data, start * K);
    o.onProgress?.(start + idx.length, d.count);
  }
  return { count: d.count, top1: miss1 / d.count, top5: miss5 / d.count, probs: Tensor.trusted([d.count, K], all) };
};
