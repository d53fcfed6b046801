/**
 * A labelled image set held in memory: `count` images of `channels` x `size` x
 * `size` bytes (0..255, channel-major, as the network's NCHW input) and one
 * label per image. Fashion-MNIST, an image folder and the synthetic set all
 * arrive in this form; the preprocessing and augmentation (augment.ts) turn
 * them into network input.
 */
import { Rng } from '../rng.ts';

export interface Dataset {
  /** Where it came from, for messages and checkpoints: "fashion-mnist train", ... */
  readonly name: string;
  readonly classNames: readonly string[];
  readonly channels: number;
  readonly size: number;
  readonly count: number;
  /** [count, channels, size, size] bytes. */
  readonly pixels: Uint8Array;
  readonly labels: Int32Array;
}

/** A training set and the test set it is judged on. */
export interface Splits {
  readonly train: Dataset;
  readonly test: Dataset;
  /** What was loaded, in words (printed by the CLI). */
  readonly description: string;
}

export const imageBytes = (d: Pick<Dataset, 'channels' | 'size'>): number => d.channels * d.size * d.size;

/** The bytes of image i (a view, not a copy). */
export const imageOf = (d: Dataset, i: number): Uint8Array => {
  const n = imageBytes(d);
  return d.pixels.subarray(i * n, (i + 1) * n);
};

/** The images at `indices`, in that order. */
export const subset = (d: Dataset, indices: ArrayLike<number>, name = d.name): Dataset => {
  const n = imageBytes(d);
  const pixels = new Uint8Array(indices.length * n);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    pixels.set(imageOf(d, indices[k]), k * n);
    labels[k] = d.labels[indices[k]];
  }
  return { ...d, name, count: indices.length, pixels, labels };
};

/** The first `n` images (all of them when n >= count). */
export const take = (d: Dataset, n: number): Dataset =>
  n >= d.count ? d : subset(d, Int32Array.from({ length: n }, (_, i) => i));

/**
 * Holds `n` images out of a training set for validation (the learning-rate
 * schedule watches their error), chosen by a seeded permutation so the split
 * is the same on every run with the same seed.
 */
export const holdOut = (d: Dataset, n: number, seed: number): { train: Dataset; val: Dataset } => {
  const order = new Rng(seed).derive('validation split').permutation(d.count);
  const val = Int32Array.from(order.subarray(0, n)).sort();
  const train = Int32Array.from(order.subarray(n)).sort();
  return { train: subset(d, train, `${d.name} (training part)`), val: subset(d, val, `${d.name} (validation part)`) };
};

/** Zero-pads every image by `p` pixels on each side (a 28 x 28 image becomes 32 x 32 with p = 2). */
export const pad = (d: Dataset, p: number): Dataset => {
  if (p === 0) return d;
  const S = d.size + 2 * p;
  const pixels = new Uint8Array(d.count * d.channels * S * S);
  for (let i = 0; i < d.count; i++)
    for (let c = 0; c < d.channels; c++)
      for (let y = 0; y < d.size; y++) {
        const src = ((i * d.channels + c) * d.size + y) * d.size;
        pixels.set(d.pixels.subarray(src, src + d.size), ((i * d.channels + c) * S + y + p) * S + p);
      }
  return { ...d, size: S, pixels };
};
