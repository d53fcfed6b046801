/**
 * An image-folder dataset: one sub-folder per class, PNG and JPEG files in
 * each (`root/<class>/<image>`). If `root` has `train/` and `val/` (or
 * `test/`) sub-folders laid out that way, they are the two sets; otherwise a
 * seeded tenth of every class is held out as the test set.
 *
 * Each image is decoded and resized by sharp (libvips) as the paper prepares
 * ImageNet: the shorter side rescaled to `base` (256 for alexnet), then the
 * central base x base square cut out.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import sharp from 'sharp';
import { type AlexnetError, datasetError, excerpt } from '../errors.ts';
import { Rng } from '../rng.ts';
import type { Dataset, Splits } from './dataset.ts';
import { subset } from './dataset.ts';

const IMAGE = new Set(['.png', '.jpg', '.jpeg']);

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

/** The format a file's first bytes announce, or undefined for neither. */
const formatOf = (head: Uint8Array): 'PNG' | 'JPEG' | undefined =>
  PNG_SIGNATURE.every((b, i) => head[i] === b) ? 'PNG' : JPEG_SIGNATURE.every((b, i) => head[i] === b) ? 'JPEG' : undefined;

/**
 * The decoder's complaint as one short clause. libvips joins every message it
 * logged, one a line, often the same one several times, each prefixed with the
 * loader's name ("VipsJpeg: premature end of JPEG image\nVipsJpeg: JPEG
 * datastream contains no image\n..."), and sharp puts its own words before
 * them; the first distinct one says what went wrong.
 */
export const decoderReason = (message: string): string => {
  const clauses = message
    .split(/[\r\n]+/)
    .map((l) => l.replace(/^Input (file|buffer) (has corrupt header|contains unsupported image format):?\s*/i, '').replace(/^(?:[\w.]*vips[\w.]*:\s*)+/i, '').trim())
    .filter((l) => l !== '');
  return clauses.length > 0 ? excerpt(clauses[0], 100) : 'no reason given';
};

/** What is wrong with an image file libvips would not decode, in one line naming it. */
const unreadable = (path: string, message: string): AlexnetError => {
  let head = new Uint8Array(0);
  try {
    const fd = openSync(path, 'r');
    try {
      head = new Uint8Array(8);
      head = head.subarray(0, readSync(fd, head, 0, 8, 0));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return datasetError(`${path}: not a readable PNG or JPEG image: ${code === 'ENOENT' ? 'there is no such file' : `cannot read it (${code ?? excerpt((e as Error).message)})`}`);
  }
  const format = formatOf(head);
  if (head.length === 0) return datasetError(`${path}: not a readable PNG or JPEG image: the file is empty`);
  if (!format) return datasetError(`${path}: not a readable PNG or JPEG image: it starts with ${Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}, not a PNG or JPEG signature`);
  return datasetError(`${path}: not a readable PNG or JPEG image: a damaged or truncated ${format} file (the decoder: ${decoderReason(message)})`);
};

/** The most pixels an image may have: 100 megapixels, past any camera's photograph a network is shown. */
export const MAX_PIXELS = 100_000_000;

/**
 * The most pixels a file may claim per byte it holds. A huffman-coded JPEG
 * spends at least one bit on every 8 x 8 block of its brightness (512 pixels
 * a byte; arithmetic coding can do better, and is refused past 8 times that);
 * deflate shrinks at most 1032 to 1, so a PNG of 1-bit pixels holds at most
 * ~8256 a byte.
 */
const PIXELS_PER_BYTE = { jpeg: 4096, png: 16384 } as const;

/**
 * A refusal when the file's header claims more pixels than the file could
 * hold. libvips decodes a truncated JPEG with grey where the data ends, and a
 * progressive JPEG (or an interlaced PNG) whole before shrinking it, so a
 * few hundred bytes claiming 16000 x 16000 pixels would cost gigabytes.
 */
const claimsTooMuch = async (path: string): Promise<AlexnetError | undefined> => {
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  let bytes: number;
  try {
    meta = await sharp(path, { limitInputPixels: MAX_PIXELS }).metadata();
    bytes = statSync(path).size;
  } catch {
    return undefined; // the decode says what is wrong
  }
  const perByte = meta.format === 'jpeg' || meta.format === 'png' ? PIXELS_PER_BYTE[meta.format] : undefined;
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (perByte === undefined || pixels <= perByte * bytes) return undefined;
  return datasetError(`${path}: not a readable PNG or JPEG image: its header claims ${meta.width} x ${meta.height} pixels, more than a ${bytes}-byte ${meta.format === 'jpeg' ? 'JPEG' : 'PNG'} file holds (truncated or damaged)`);
};

/**
 * Decodes a PNG or JPEG, rescales its shorter side to `base`, cuts the central
 * base x base square and returns it channel-major ([channels, base, base]).
 * Grey images are repeated into three channels for a colour model and colour
 * images turned grey for a grey one. A file that will not decode is refused in
 * one line of our own naming it and the problem, whatever libvips logged.
 */
export const loadImage = async (path: string, base: number, channels: 1 | 3): Promise<E.Either<AlexnetError, Uint8Array>> => {
  try {
    const claimed = await claimsTooMuch(path);
    if (claimed) return E.left(claimed);
    let img = sharp(path, { failOn: 'error', limitInputPixels: MAX_PIXELS }).rotate().resize(base, base, { fit: 'cover', position: 'centre' }).removeAlpha();
    img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== base || info.height !== base) {
      return E.left(datasetError(`${path}: decoded to ${info.width}x${info.height}x${info.channels}, expected ${base}x${base}x${channels}`));
    }
    // interleaved HWC -> planar CHW
    const out = new Uint8Array(channels * base * base);
    for (let p = 0; p < base * base; p++)
      for (let c = 0; c < channels; c++) out[c * base * base + p] = data[p * channels + c];
    return E.right(out);
  } catch (e) {
    return E.left(unreadable(path, e instanceof Error ? e.message : String(e)));
  }
};

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** The classes (sorted sub-folder names) and image files of one folder. */
const scan = (root: string): E.Either<AlexnetError, { classes: string[]; files: { path: string; label: number }[] }> => {
  if (!isDir(root)) return E.left(datasetError(`${root} is not a folder`));
  const classes = readdirSync(root).filter((d) => isDir(join(root, d))).sort();
  if (classes.length < 2) return E.left(datasetError(`${root} has ${classes.length} class folder(s); an image folder needs one sub-folder per class and at least two classes`));
  const files: { path: string; label: number }[] = [];
  classes.forEach((c, label) => {
    for (const f of readdirSync(join(root, c)).sort()) {
      if (IMAGE.has(extname(f).toLowerCase())) files.push({ path: join(root, c, f), label });
    }
  });
  const empty = classes.filter((_, i) => !files.some((f) => f.label === i));
  if (empty.length > 0) return E.left(datasetError(`${root}: class folder(s) ${empty.join(', ')} hold no .png, .jpg or .jpeg files`));
  return E.right({ classes, files });
};

const decodeAll = async (name: string, classes: string[], files: { path: string; label: number }[], base: number, channels: 1 | 3): Promise<E.Either<AlexnetError, Dataset>> => {
  const n = channels * base * base;
  const pixels = new Uint8Array(files.length * n);
  const labels = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const img = await loadImage(files[i].path, base, channels);
    if (E.isLeft(img)) return img;
    pixels.set(img.right, i * n);
    labels[i] = files[i].label;
  }
  return E.right({ name, classNames: classes, channels, size: base, count: files.length, pixels, labels });
};

/** Loads an image folder at `base` x `base`, with `channels` channels. */
export const loadImageFolder = async (root: string, base: number, channels: 1 | 3, seed: number): Promise<E.Either<AlexnetError, Splits>> => {
  const testDir = ['val', 'test'].map((d) => join(root, d)).find(isDir);
  const describe = (tr: Dataset, te: Dataset) =>
    `image folder ${root}: ${tr.count} training and ${te.count} test images of ${tr.classNames.length} classes, rescaled and centre-cropped to ${base}x${base}`;
  if (isDir(join(root, 'train')) && testDir) {
    const tr = scan(join(root, 'train'));
    if (E.isLeft(tr)) return tr;
    const te = scan(testDir);
    if (E.isLeft(te)) return te;
    if (te.right.classes.join('/') !== tr.right.classes.join('/')) {
      return E.left(datasetError(`${root}: the class folders of train/ (${tr.right.classes.join(', ')}) and ${testDir} (${te.right.classes.join(', ')}) differ`));
    }
    const train = await decodeAll(`folder ${root} train`, tr.right.classes, tr.right.files, base, channels);
    if (E.isLeft(train)) return train;
    const test = await decodeAll(`folder ${root} test`, te.right.classes, te.right.files, base, channels);
    if (E.isLeft(test)) return test;
    return E.right({ train: train.right, test: test.right, description: describe(train.right, test.right) });
  }
  const all = scan(root);
  if (E.isLeft(all)) return all;
  const whole = await decodeAll(`folder ${root}`, all.right.classes, all.right.files, base, channels);
  if (E.isLeft(whole)) return whole;
  // A seeded tenth of each class (at least one image) becomes the test set.
  const rng = new Rng(seed).derive('image folder split');
  const testIdx: number[] = [];
  const trainIdx: number[] = [];
  all.right.classes.forEach((_, label) => {
    const mine = all.right.files.flatMap((f, i) => (f.label === label ? [i] : []));
    const order = rng.permutation(mine.length);
    const nTest = mine.length > 1 ? Math.max(1, Math.round(mine.length / 10)) : 0;
    order.forEach((o, k) => (k < nTest ? testIdx : trainIdx).push(mine[o]));
  });
  if (testIdx.length === 0) return E.left(datasetError(`${root} has too few images to hold any out for testing; add images or give train/ and val/ folders`));
  const train = subset(whole.right, trainIdx.sort((a, b) => a - b), `folder ${root} train`);
  const test = subset(whole.right, testIdx.sort((a, b) => a - b), `folder ${root} test`);
  return E.right({ train, test, description: describe(train, test) });
};
