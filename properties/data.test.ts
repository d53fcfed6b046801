/**
 * The data pipeline: the IDX reader's checks, the mean image, crops and
 * reflections as views, the ten test crops, PCA colour augmentation, the
 * validation split, and the synthetic set's determinism.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  centreView, colourShift, cropView, fitPreprocessing, makeBatch, meanImage, type Pca, rgbCovariance, symmetricEigen3, tenCropViews,
} from '../core/data/augment.ts';
import { type Dataset, holdOut, pad } from '../core/data/dataset.ts';
import { loadIdxFolder } from '../core/data/fashion-mnist.ts';
import { parseIdx, readIdxPair } from '../core/data/idx.ts';
import { synthetic } from '../core/data/synthetic.ts';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { averagedProbabilities } from '../core/train/evaluate.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { tinySpec } from './train-support.ts';

/** An IDX file of unsigned bytes. */
const idx = (dims: number[], values: number[] | Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out.set([0, 0, 8, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
};

const leftMessage = (e: E.Either<{ message: string }, unknown>): string => (E.isLeft(e) ? e.left.message : 'accepted');

test('IDX: a well-formed file reads back its dimensions and values', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), (dims) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256);
    const r = orThrow(parseIdx(idx(dims, values), 'x'));
    assert.equal(r.dims, dims);
    assert.equal(Array.from(r.data), Array.from(values));
  }));
});

test('IDX: a wrong magic number is refused, naming what was found and what is expected', () => {
  const good = idx([2, 2, 2], new Uint8Array(8));
  for (const [at, byte] of [[0, 1], [2, 0x0d], [3, 0], [3, 9]] as const) {
    const bad = good.slice();
    bad[at] = byte;
    const m = leftMessage(parseIdx(bad, 'images.idx'));
    assert.match(m, /^images\.idx: wrong magic number [0-9a-f ]+; an IDX file of unsigned bytes starts 00 00 08/, m);
  }
  // a 1-dimensional label file where images are expected
  assert.match(leftMessage(parseIdx(idx([4], new Uint8Array(4)), 'f', 3)), /has 1 dimensions, expected 3/);
});

test('IDX: a truncated file is refused with the counts', () => {
  const good = idx([3, 4, 4], new Uint8Array(48));
  assert.match(leftMessage(parseIdx(good.subarray(0, good.length - 5), 'f')), /truncated: the header promises 3 x 4 x 4 = 48 values but only 43 follow/);
  assert.match(leftMessage(parseIdx(good.subarray(0, 10), 'f')), /header needs 16 bytes but the file has 10/);
  assert.match(leftMessage(parseIdx(new Uint8Array([0, 0]), 'f')), /too short/);
  const longer = new Uint8Array(good.length + 3);
  longer.set(good);
  assert.match(leftMessage(parseIdx(longer, 'f')), /3 bytes after the 3 x 4 x 4 = 48 values/);
});

test('IDX: images and labels of different lengths are refused; gzipped files are read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-'));
  writeFileSync(join(dir, 'im'), gzipSync(idx([3, 2, 2], new Uint8Array(12))));
  writeFileSync(join(dir, 'lb'), idx([2], [0, 1]));
  assert.match(leftMessage(readIdxPair(join(dir, 'im'), join(dir, 'lb'))), /length mismatch: .*im holds 3 images but .*lb holds 2 labels/);
  writeFileSync(join(dir, 'lb'), idx([3], [0, 1, 2]));
  const ok = orThrow(readIdxPair(join(dir, 'im'), join(dir, 'lb')));
  assert.is(ok.count, 3);
  assert.is(ok.height, 2);
  // a folder without the four files says which are missing
  assert.match(leftMessage(loadIdxFolder(dir)), /has no train-images-idx3-ubyte\[\.gz\]/);
});

const tinySet = (pixels: Uint8Array, channels: number, size: number, count: number): Dataset => ({
  name: 't', classNames: ['a', 'b'], channels, size, count, pixels, labels: new Int32Array(count),
});

test('the mean image is the per-pixel, per-channel mean over the set', () => {
  const d = tinySet(Uint8Array.of(0, 10, 20, 30, 4, 2, 0, 6), 1, 2, 2);
  assert.equal(Array.from(meanImage(d)), [2, 6, 10, 18]);
});

test('crops are views at the given place; a reflected crop reads its columns backwards', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (oy, ox, flip) => {
    const C = 2, S = 7, s = 4;
    const data = Float32Array.from({ length: C * S * S }, (_, i) => i);
    const v = cropView(data, C, S, s, { oy, ox, flip });
    for (let c = 0; c < C; c++)
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++) assert.is(v.get(c, y, x), data[(c * S + oy + y) * S + ox + (flip ? s - 1 - x : x)]);
  }));
});

test('the ten test crops are the four corners, the centre, and the same five reflected', () => {
  const v = tenCropViews(32, 28);
  assert.equal(v.slice(0, 5).map((x) => [x.oy, x.ox]), [[0, 0], [0, 4], [4, 0], [4, 4], [2, 2]]);
  assert.ok(v.slice(0, 5).every((x) => !x.flip) && v.slice(5).every((x) => x.flip));
  assert.equal(v.slice(5).map((x) => [x.oy, x.ox]), v.slice(0, 5).map((x) => [x.oy, x.ox]));
  assert.equal(centreView(32, 28), { oy: 2, ox: 2, flip: false });
});

test('ten-crop testing of a symmetric image equals its centre crop', () => {
  // With stored images as large as the crops, all five crops are the image itself, and the
  // reflections of a mirror-symmetric image are the image again; the average of the ten
  // softmax outputs must then be the centre crop's. Likewise for an image of one colour,
  // whose crops are all alike, at any crop size.
  const spec = tinySpec(10, 3);
  const net = orThrow(Network.create(spec, initParams(spec, 4), [createReferenceBackend()]));
  const s = 16;
  const check = (d: Dataset) => {
    const prep = { ...fitPreprocessing(d, s), mean: new Float32Array(3 * d.size * d.size).fill(100) };
    const ten = averagedProbabilities(net, d, [0], prep, tenCropViews(d.size, s));
    const one = averagedProbabilities(net, d, [0], prep, [centreView(d.size, s)]);
    return ten.data.every((p, k) => Math.abs(p - one.data[k]) < 1e-6);
  };
  fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
    const rng = new Rng(seed);
    const mirrored = new Uint8Array(3 * s * s);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s / 2; x++) {
          const v = rng.int(256);
          mirrored[(c * s + y) * s + x] = v;
          mirrored[(c * s + y) * s + (s - 1 - x)] = v;
        }
    assert.ok(check(tinySet(mirrored, 3, s, 1)), 'mirror-symmetric image');
    const S = 20;
    const flat = new Uint8Array(3 * S * S);
    for (let c = 0; c < 3; c++) flat.fill(rng.int(256), c * S * S, (c + 1) * S * S);
    assert.ok(check(tinySet(flat, 3, S, 1)), 'one-colour image');
  }), { numRuns: 4 });
  // An asymmetric image does not, so the test above can tell.
  const rng = new Rng(1);
  assert.not.ok(check(tinySet(Uint8Array.from({ length: 3 * s * s }, () => rng.int(256)), 3, s, 1)));
  assert.not.ok(check(tinySet(Uint8Array.from({ length: 3 * 20 * 20 }, () => rng.int(256)), 3, 20, 1)));
});

test('the 3 x 3 eigen-decomposition: A p = lambda p, unit orthogonal eigenvectors, eigenvalues descending', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 6, maxLength: 6 }), (u) => {
    const m = [[u[0], u[1], u[2]], [u[1], u[3], u[4]], [u[2], u[4], u[5]]];
    // make it a covariance (positive semi-definite): M M^T
    const a = m.map((r) => m.map((q) => r[0] * q[0] + r[1] * q[1] + r[2] * q[2]));
    const { values, vectors } = symmetricEigen3(a);
    const scale = Math.max(1, ...a.flat().map(Math.abs));
    for (let i = 0; i < 3; i++) {
      for (let r = 0; r < 3; r++) {
        const ap = a[r][0] * vectors[i][0] + a[r][1] * vectors[i][1] + a[r][2] * vectors[i][2];
        assert.ok(Math.abs(ap - values[i] * vectors[i][r]) < 1e-8 * scale, `A p_${i} != lambda p_${i}`);
      }
      for (let j = 0; j < 3; j++) {
        const dot = vectors[i][0] * vectors[j][0] + vectors[i][1] * vectors[j][1] + vectors[i][2] * vectors[j][2];
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-9);
      }
    }
    assert.ok(values[0] >= values[1] && values[1] >= values[2]);
  }));
});

test('PCA colour augmentation leaves the mean colour unbiased over many draws, with the covariance the paper\'s noise implies', () => {
  const d = synthetic({ seed: 3, train: 200, test: 1, size: 16, channels: 3 }).train;
  const cov = rgbCovariance(d);
  const pca = orThrow(E.fromNullable({ _tag: 'ValueError', message: 'no pca' } as const)(fitPreprocessing(d, 12).pca)) as Pca;
  const rng = new Rng(11);
  const n = 20000;
  const sum = [0, 0, 0];
  const sq = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < n; i++) {
    const s = colourShift(pca, rng);
    for (let a = 0; a < 3; a++) {
      sum[a] += s[a];
      for (let b = 0; b < 3; b++) sq[a][b] += s[a] * s[b];
    }
  }
  for (let a = 0; a < 3; a++) {
    const sd = Math.sqrt(0.01 * cov[a][a]);
    // the mean shift is zero within 4 standard errors
    assert.ok(Math.abs(sum[a] / n) < (4 * sd) / Math.sqrt(n), `channel ${a}: mean shift ${sum[a] / n}`);
    // shift = P diag(a_i sqrt(lambda_i)), so its covariance is 0.01 P diag(lambda) P^T = 0.01 * the pixel covariance
    for (let b = 0; b < 3; b++) {
      const want = 0.01 * cov[a][b];
      assert.ok(Math.abs(sq[a][b] / n - want) < 0.05 * 0.01 * Math.sqrt(cov[a][a] * cov[b][b]), `cov[${a}][${b}] ${sq[a][b] / n} vs ${want}`);
    }
  }
  // grey data has no PCA: the augmentation is skipped
  assert.is(fitPreprocessing(synthetic({ train: 10, test: 1, size: 8, channels: 1 }).train, 8).pca, null);
});

test('a batch is the crop of (image - mean image) plus the colour shift', () => {
  const d = synthetic({ seed: 5, train: 3, test: 1, size: 10, channels: 3 }).train;
  const prep = fitPreprocessing(d, 8);
  const view = { oy: 1, ox: 2, flip: true };
  const x = makeBatch(d, [2], prep, [view], [[1, -2, 3]]);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 8; y++)
      for (let q = 0; q < 8; q++) {
        const src = (c * 10 + 1 + y) * 10 + 2 + (7 - q);
        const want = d.pixels[2 * 300 + src] - prep.mean[src] + [1, -2, 3][c];
        assert.ok(Math.abs(x.at(0, c, y, q) - want) < 1e-4);
      }
});

test('the validation split is seeded, disjoint and complete; padding centres the images', () => {
  const d = synthetic({ seed: 1, train: 50, test: 1, size: 6, channels: 1 }).train;
  const a = holdOut(d, 10, 4);
  const b = holdOut(d, 10, 4);
  assert.equal(Array.from(a.val.pixels), Array.from(b.val.pixels));
  assert.is(a.train.count + a.val.count, 50);
  const p = pad(d, 2);
  assert.is(p.size, 10);
  assert.is(p.pixels[0], 0);
  assert.is(p.pixels[2 * 10 + 2], d.pixels[0]);
});

test('the synthetic set is made from its seed: same seed, same bytes; another seed, other bytes', () => {
  const a = synthetic({ seed: 9, train: 20, test: 5, size: 12 });
  const b = synthetic({ seed: 9, train: 20, test: 5, size: 12 });
  const c = synthetic({ seed: 10, train: 20, test: 5, size: 12 });
  assert.ok(Buffer.from(a.train.pixels).equals(Buffer.from(b.train.pixels)));
  assert.not.ok(Buffer.from(a.train.pixels).equals(Buffer.from(c.train.pixels)));
  assert.equal(Array.from(a.train.labels.subarray(0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
});

test.run();
