/**
 * A small labelled image set made in code from a seed, no files: the default
 * when no real data is installed, so training works on a fresh machine.
 *
 * Ten classes of simple shapes (bars in four orientations, ring, disc, two
 * kinds of cross, square outline, checkerboard), each drawn at a random
 * position, scale and stroke width, in a random light colour on a random dark
 * background colour, with pixel noise. The shape decides the class; colour and place do
 * not, so the set rewards what convolutional features are good at, and the
 * colour variation gives PCA colour augmentation something to work on.
 */
import { Rng } from '../rng.ts';
import type { Dataset, Splits } from './dataset.ts';

export const SYNTHETIC_CLASSES = [
  'horizontal bar', 'vertical bar', 'falling diagonal', 'rising diagonal', 'ring',
  'disc', 'plus', 'cross', 'square', 'checkerboard',
] as const;

export interface SyntheticOptions {
  readonly seed: number;
  readonly train: number;
  readonly test: number;
  /** Side of the (square) images. */
  readonly size: number;
  readonly channels: 1 | 3;
  /** How many of the ten classes to use (the first ones). */
  readonly classes: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = { seed: 2012, train: 8000, test: 1000, size: 32, channels: 3, classes: 10 };

/** Is pixel (u, v), in shape coordinates (centre 0, radius 1), inside shape k of stroke half-width t? */
const inside = (k: number, u: number, v: number, t: number): boolean => {
  const r = Math.sqrt(u * u + v * v);
  const box = Math.abs(u) <= 1 && Math.abs(v) <= 1;
  switch (k) {
    case 0: return Math.abs(v) <= t && Math.abs(u) <= 1;
    case 1: return Math.abs(u) <= t && Math.abs(v) <= 1;
    case 2: return Math.abs(u - v) <= t * Math.SQRT2 && box;
    case 3: return Math.abs(u + v) <= t * Math.SQRT2 && box;
    case 4: return Math.abs(r - 0.8) <= t;
    case 5: return r <= 0.8;
    case 6: return (Math.abs(u) <= t || Math.abs(v) <= t) && box;
    case 7: return (Math.abs(u - v) <= t * Math.SQRT2 || Math.abs(u + v) <= t * Math.SQRT2) && box;
    case 8: return box && Math.max(Math.abs(u), Math.abs(v)) >= 1 - 2 * t;
    default: return box && ((Math.floor((u + 1) * 2) + Math.floor((v + 1) * 2)) & 1) === 1;
  }
};

const SUB = [0.25, 0.75];

const draw = (rng: Rng, k: number, size: number, channels: number, out: Uint8Array, at: number): void => {
  const radius = size * (0.22 + 0.16 * rng.uniform());
  const cx = size / 2 + (rng.uniform() - 0.5) * (size - 2 * radius) * 0.8;
  const cy = size / 2 + (rng.uniform() - 0.5) * (size - 2 * radius) * 0.8;
  const t = 0.12 + 0.12 * rng.uniform();
  const fg: number[] = [];
  const bg: number[] = [];
  // The shape is lighter than the background in every channel, by 60 at least.
  for (let c = 0; c < channels; c++) {
    fg.push(150 + rng.int(106));
    bg.push(rng.int(91));
  }
  // Pixel noise, uniform in [-20, 20), from a small generator seeded per image (fast, and still fixed by the seed).
  let noise = 1 + rng.int(2 ** 31 - 1);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      // 2 x 2 supersampling for soft edges.
      let cover = 0;
      for (let q = 0; q < 4; q++) {
        if (inside(k, (x + SUB[q & 1] - cx) / radius, (y + SUB[q >> 1] - cy) / radius, t)) cover += 0.25;
      }
      for (let c = 0; c < channels; c++) {
        noise ^= noise << 13; noise ^= noise >>> 17; noise ^= noise << 5; // xorshift32
        const v = cover * fg[c] + (1 - cover) * bg[c] + ((noise >>> 0) / 2 ** 32 - 0.5) * 40;
        out[at + (c * size + y) * size + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
};

const generate = (rng: Rng, count: number, o: SyntheticOptions, name: string): Dataset => {
  const n = o.channels * o.size * o.size;
  const pixels = new Uint8Array(count * n);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % o.classes;
    draw(rng, labels[i], o.size, o.channels, pixels, i * n);
  }
  return { name, classNames: SYNTHETIC_CLASSES.slice(0, o.classes), channels: o.channels, size: o.size, count, pixels, labels };
};

/** The synthetic training and test sets; the same options give the same bytes. */
export const synthetic = (opts: Partial<SyntheticOptions> = {}): Splits => {
  const o = { ...SYNTHETIC_DEFAULTS, ...opts };
  const rng = new Rng(o.seed);
  const train = generate(rng.derive('synthetic train'), o.train, o, 'synthetic train');
  const test = generate(rng.derive('synthetic test'), o.test, o, 'synthetic test');
  return {
    train,
    test,
    description: `synthetic shapes (seed ${o.seed}): ${o.train} training and ${o.test} test images, ${o.size}x${o.size}, ${o.channels === 3 ? 'RGB' : 'grey'}, ${o.classes} classes, made in code`,
  };
};
