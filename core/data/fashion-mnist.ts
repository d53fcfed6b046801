/**
 * Fashion-MNIST (Zalando, 2017): 60,000 training and 10,000 test images of
 * clothing, 28 x 28 grey, 10 classes, in the IDX files of the Debian package
 * `dataset-fashion-mnist` (or any folder holding the same four files, gzipped
 * or not).
 */
import { existsSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { type AlexnetError, datasetError } from '../errors.ts';
import type { Dataset, Splits } from './dataset.ts';
import { findIdx, type IdxPair, readIdxPair } from './idx.ts';

/** Where the Debian package puts the files; ALEXNET_FASHION_MNIST overrides it (the tests use it to play a machine without the package). */
export const FASHION_MNIST_DIR = process.env.ALEXNET_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** True when `dir` holds the four IDX files. */
export const hasIdxFiles = (dir: string): boolean =>
  existsSync(dir) && Object.values(FILES).every((f) => findIdx(dir, f) !== undefined);

const toDataset = (p: IdxPair, name: string, classNames: readonly string[]): E.Either<AlexnetError, Dataset> => {
  if (p.height !== p.width) return E.left(datasetError(`${name}: images are ${p.height} x ${p.width}; only square images are supported`));
  const labels = Int32Array.from(p.labels);
  const bad = labels.findIndex((l) => l >= classNames.length);
  if (bad >= 0) return E.left(datasetError(`${name}: label ${labels[bad]} of image ${bad} is outside 0..${classNames.length - 1}`));
  return E.right({ name, classNames, channels: 1, size: p.height, count: p.count, pixels: p.images, labels });
};

/**
 * Loads the training and test sets from `dir`. With ten classes the labels are
 * named as Fashion-MNIST's; with any other number, "0", "1", ...
 */
export const loadIdxFolder = (dir: string): E.Either<AlexnetError, Splits> => {
  const path = (f: string) => findIdx(dir, f);
  const missing = Object.values(FILES).filter((f) => !path(f));
  if (missing.length > 0) {
    return E.left(datasetError(`${dir} has no ${missing.map((m) => `${m}[.gz]`).join(', ')}; an IDX data folder holds the four files of (Fashion-)MNIST`));
  }
  return E.chain((train: IdxPair) =>
    E.chain((test: IdxPair) => {
      let maxLabel = 0;
      for (const l of train.labels) maxLabel = Math.max(maxLabel, l);
      for (const l of test.labels) maxLabel = Math.max(maxLabel, l);
      const classes = maxLabel + 1;
      const names = classes === 10 ? FASHION_MNIST_CLASSES : Array.from({ length: classes }, (_, i) => String(i));
      const label = dir === FASHION_MNIST_DIR ? 'fashion-mnist' : `idx:${dir}`;
      return E.chain((tr: Dataset) =>
        E.map((te: Dataset): Splits => ({
          train: tr,
          test: te,
          description: `${label}: ${tr.count} training and ${te.count} test images, ${tr.size}x${tr.size} grey, ${classes} classes, from ${dir}`,
        }))(toDataset(test, `${label} test`, names)),
      )(toDataset(train, `${label} train`, names));
    })(readIdxPair(path(FILES.testImages)!, path(FILES.testLabels)!)),
  )(readIdxPair(path(FILES.trainImages)!, path(FILES.trainLabels)!));
};
