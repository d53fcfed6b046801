/**
 * Which data a command works on: `--data DIR` (a folder of IDX files, or an
 * image folder), `--data synthetic`, or by default Fashion-MNIST from the
 * Debian package when it is installed and the synthetic set otherwise. Also
 * the geometry each model wants: alexnet crops 227 x 227 out of 256 x 256 RGB
 * images; alexnet-mini crops 28 x 28 out of 32 x 32 (Fashion-MNIST's 28 x 28
 * images padded by 2).
 */
import { existsSync, statSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { alexnet, alexnetMini, type NetSpec } from '../core/alexnet.ts';
import type { DataRef } from '../core/checkpoint.ts';
import { pad, type Splits } from '../core/data/dataset.ts';
import { FASHION_MNIST_DIR, hasIdxFiles, loadIdxFolder } from '../core/data/fashion-mnist.ts';
import { loadImageFolder } from '../core/data/image-folder.ts';
import { synthetic, SYNTHETIC_DEFAULTS } from '../core/data/synthetic.ts';
import { argumentError, datasetError, orThrow } from '../core/errors.ts';

export const MODEL_NAMES = ['alexnet-mini', 'alexnet'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Stored image side and crop side per model. */
export const GEOMETRY: Record<ModelName, { readonly base: number; readonly crop: number }> = {
  alexnet: { base: 256, crop: 227 },
  'alexnet-mini': { base: 32, crop: 28 },
};

export const INSTALL_HINT = `install Fashion-MNIST with \`apt-get install dataset-fashion-mnist\` (files in ${FASHION_MNIST_DIR}) or pass --data DIR`;

export interface Opened {
  readonly splits: Splits;
  readonly ref: DataRef;
  /** Said before training when the default fell back to synthetic data. */
  readonly note: string | null;
}

/** The network for a model name, sized to the data. */
export const specFor = (model: ModelName, classes: number, channels: number, crop: number): NetSpec => {
  if (model === 'alexnet') {
    if (channels !== 3) orThrow(E.left(argumentError(`alexnet takes RGB images; this data has ${channels} channel(s); train alexnet-mini on grey data`)));
    return alexnet(classes);
  }
  return alexnetMini(classes, channels, crop);
};

/** Opens the data a DataRef names (a checkpoint's, say). */
export const reopen = async (ref: DataRef, seed: number): Promise<Splits> => {
  if (ref.kind === 'synthetic') return synthetic(ref);
  if (ref.kind === 'idx') {
    const s = orThrow(loadIdxFolder(ref.path));
    return { ...s, train: pad(s.train, ref.pad), test: pad(s.test, ref.pad) };
  }
  const base = ref.base;
  return orThrow(await loadImageFolder(ref.path, base, ref.channels, seed));
};

/** Opens the data `--data` asks for (or the default) for `model`. */
export const openData = async (data: string | undefined, model: ModelName, seed: number): Promise<Opened> => {
  const { base } = GEOMETRY[model];
  const channels: 1 | 3 = 3;
  if (data === 'synthetic' || (data === undefined && !hasIdxFiles(FASHION_MNIST_DIR))) {
    const ref: DataRef = { kind: 'synthetic', ...SYNTHETIC_DEFAULTS, size: base, channels };
    const note = data === undefined ? `Fashion-MNIST is not installed, so training uses the built-in synthetic shapes; ${INSTALL_HINT}` : null;
    return { splits: await reopen(ref, seed), ref, note };
  }
  const dir = data ?? FASHION_MNIST_DIR;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) orThrow(E.left(datasetError(`--data ${dir}: no such folder; give a folder of IDX files, an image folder, or 'synthetic'`)));
  if (hasIdxFiles(dir)) {
    if (model === 'alexnet') orThrow(E.left(argumentError(`${dir} holds small grey IDX images; alexnet takes 256 x 256 RGB images (an image folder); train alexnet-mini on it instead`)));
    const s = orThrow(loadIdxFolder(dir));
    const p = Math.max(0, (base - s.train.size) / 2);
    if (!Number.isInteger(p)) orThrow(E.left(datasetError(`${dir}: ${s.train.size} x ${s.train.size} images cannot be padded evenly to ${base} x ${base}`)));
    const ref: DataRef = { kind: 'idx', path: dir, pad: p };
    return { splits: { ...s, train: pad(s.train, p), test: pad(s.test, p) }, ref, note: null };
  }
  const ref: DataRef = { kind: 'folder', path: dir, base, channels };
  return { splits: await reopen(ref, seed), ref, note: null };
};
