/**
 * What `alexnet classify` and the page's Classify share: one decoded image
 * under a checkpoint's network, the softmax averaged over the paper's ten
 * crops (or the centre crop), ranked.
 */
import type { TrainingCheckpoint } from './checkpoint.ts';
import { centreView, tenCropViews } from './data/augment.ts';
import { type Dataset, pad } from './data/dataset.ts';
import type { Network } from './net.ts';
import { averagedProbabilities } from './train/evaluate.ts';

export interface Ranked {
  readonly label: string;
  readonly index: number;
  readonly probability: number;
}

/**
 * The side of the square, channel-major image a checkpoint's network expects
 * from the decoder: its input size less the border its dataset was padded with
 * (Fashion-MNIST's 28x28 images are padded to the network's size).
 */
export const imageSideOf = (ck: TrainingCheckpoint): number => ck.prep.size - 2 * (ck.data.kind === 'idx' ? ck.data.pad : 0);

/** The `top` most probable labels of `pixels` ([channels, side, side], side = imageSideOf(ck)). */
export const classify = (net: Network, ck: TrainingCheckpoint, pixels: Uint8Array, o: { top: number; crops: 1 | 10; name?: string }): Ranked[] => {
  const { channels, size, crop } = ck.prep;
  const side = imageSideOf(ck);
  if (pixels.length !== channels * side * side) throw new RangeError(`classify: the image has ${pixels.length} values, expected ${channels}x${side}x${side}`);
  const one: Dataset = pad({
    name: o.name ?? 'image', classNames: ck.classNames, channels, size: side, count: 1, pixels, labels: Int32Array.of(0),
  }, (size - side) / 2);
  const views = o.crops === 10 ? tenCropViews(size, crop) : [centreView(size, crop)];
  const probs = averagedProbabilities(net, one, [0], ck.prep, views);
  return Array.from(probs.data, (p, k) => ({ label: ck.classNames[k], index: k, probability: p }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, o.top);
};
