/**
 * Facts of the paper pinned by routes independent of the code that implements
 * them (docs/facts.md lists every fact and its test):
 *
 * - dropout (section 4.2): each unit of fc6 and fc7 dropped with probability
 *   0.5, and, inverted, the expected output equals the input: the mean of the
 *   output over many masks converges to the input;
 * - crops and reflections (section 4.1): every crop position of a 227 crop in
 *   a 256 image is equally likely, and half the crops are reflected;
 * - the table itself, layer by layer, against ALEXNET.md's table written out
 *   here by hand: kernels, strides, paddings, tower links, what follows each
 *   layer and in which order, and the biases set to 1 (sections 3.5 and 5);
 * - the paper's constants: LRN k = 2, n = 5, alpha = 1e-4, beta = 0.75;
 *   pooling 3/2; dropout 0.5; the update's momentum 0.9, weight decay 0.0005
 *   and rate 0.01; the rate divided by 10, three times; images of 256 cropped
 *   to 227 (sections 3.3, 3.4, 4.1, 4.2, 5);
 * - testing (4.1, 6): the ten crops' softmax outputs are averaged (not their
 *   logits), and top-5 counts a label ranked fifth as found, sixth as missed;
 *   the colour noise is drawn afresh for every image of a batch;
 * - the initial weights are Gaussian with standard deviation 0.01, not merely
 *   of that spread: their kurtosis is a Gaussian's 3 (a uniform's is 1.8).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnet } from '../core/alexnet.ts';
import { makeBatch, type Preprocessing, randomView, tenCropViews, trainingBatch } from '../core/data/augment.ts';
import type { Dataset } from '../core/data/dataset.ts';
import type { Network } from '../core/net.ts';
import { Tensor } from '../core/tensor.ts';
import { evaluate } from '../core/train/evaluate.ts';
import { dropoutMasks } from '../core/net.ts';
import { initParams, weightName } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { PAPER_PLATEAU, PAPER_SGD } from '../core/train/schedule.ts';
import { GEOMETRY } from '../cli/data.ts';

test("the network is ALEXNET.md's table, layer by layer", () => {
  // name, kernels or units, kernel, stride, pad, tower link, what follows (in order), initial bias.
  const paper = [
    ['conv1', 96, 11, 4, 0, 'input', ['relu', 'lrn', 'pool'], 0],
    ['conv2', 256, 5, 1, 2, 'own', ['relu', 'lrn', 'pool'], 1],
    ['conv3', 384, 3, 1, 1, 'both', ['relu'], 0],
    ['conv4', 384, 3, 1, 1, 'own', ['relu'], 1],
    ['conv5', 256, 3, 1, 1, 'own', ['relu', 'pool'], 1],
    ['fc6', 4096, null, null, null, 'both', ['relu', 'dropout'], 1],
    ['fc7', 4096, null, null, null, 'both', ['relu', 'dropout'], 1],
    ['fc8', 1000, null, null, null, 'both', [], 0],
  ];
  const spec = alexnet();
  assert.equal([...spec.input], [3, 227, 227]);
  assert.is(spec.classes, 1000);
  assert.equal(spec.layers.map((l) => [
    l.name, l.out, l.kind === 'conv' ? l.kernel : null, l.kind === 'conv' ? l.stride : null, l.kind === 'conv' ? l.pad : null, l.link, [...l.after], l.biasInit,
  ]), paper);
});

test("the table's constants are the paper's", () => {
  const spec = alexnet();
  assert.equal({ ...spec.lrn }, { k: 2, n: 5, alpha: 1e-4, beta: 0.75 });
  assert.equal({ ...spec.pool }, { size: 3, stride: 2 });
  assert.is(spec.dropout, 0.5);
  assert.is(spec.initStd, 0.01);
  assert.equal({ ...PAPER_SGD }, { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 });
  assert.equal({ ...PAPER_PLATEAU }, { patience: 2, factor: 10, maxDrops: 3 });
  assert.equal({ ...GEOMETRY.alexnet }, { base: 256, crop: 227 });
  assert.equal(spec.layers.filter((l) => l.after.includes('dropout')).map((l) => l.name), ['fc6', 'fc7']);
  assert.equal(spec.layers.filter((l) => l.after.includes('lrn')).map((l) => l.name), ['conv1', 'conv2']);
  assert.equal(spec.layers.filter((l) => l.after.includes('pool')).map((l) => l.name), ['conv1', 'conv2', 'conv5']);
});

test('dropout drops half the units, and the mean output over many masks is the input (inverted dropout)', () => {
  const spec = alexnet();
  const draws = 400;
  let dropped = 0;
  let units = 0;
  const sum = new Float64Array(2 * 4096);
  for (let d = 0; d < draws; d++) {
    const m = dropoutMasks(spec, 2, new Rng(1000 + d)).get('fc6')!;
    for (let i = 0; i < m.size; i++) {
      if (m.data[i] === 0) dropped++;
      else assert.is(m.data[i], 2, 'a kept unit is scaled by 1 / (1 - 0.5)');
      sum[i] += m.data[i];
    }
    units += m.size;
  }
  // Binomial(units, 0.5): the dropped fraction is 0.5 to within 5 standard deviations.
  const sd = Math.sqrt(0.25 / units);
  assert.ok(Math.abs(dropped / units - 0.5) < 5 * sd, `dropped fraction ${dropped / units}`);
  // The output is x * mask: its mean over the draws, over the input, is the mean mask.
  // Averaged over all units it is 1 to within 5 standard deviations (each mask has variance 1).
  const meanMask = sum.reduce((a, b) => a + b, 0) / (sum.length * draws);
  assert.ok(Math.abs(meanMask - 1) < 5 / Math.sqrt(sum.length * draws), `mean scale ${meanMask}`);

});

test('the initial weights are drawn from N(0, 0.01^2): mean 0, standard deviation 0.01, kurtosis 3', () => {
  const w = initParams(alexnet(), 7).get(weightName('conv2'))!; // 307,200 draws
  let m1 = 0; let m2 = 0; let m4 = 0;
  for (const v of w.data) m1 += v;
  m1 /= w.size;
  for (const v of w.data) { m2 += (v - m1) ** 2; m4 += (v - m1) ** 4; }
  m2 /= w.size; m4 /= w.size;
  const sd = Math.sqrt(m2);
  const kurtosis = m4 / (m2 * m2);
  // Standard errors at n = 307,200: mean 1.8e-5, sd 1.3e-5, kurtosis 0.0088.
  assert.ok(Math.abs(m1) < 1e-4, `mean ${m1}`);
  assert.ok(Math.abs(sd - 0.01) < 1e-4, `standard deviation ${sd}`);
  assert.ok(Math.abs(kurtosis - 3) < 0.05, `kurtosis ${kurtosis} (a Gaussian's is 3, a uniform's 1.8)`);
});

test('crops: every (row, column) position of a 227 crop in a 256 image is equally likely, and half are reflected', () => {
  const prep = { size: 256, crop: 227 } as Parameters<typeof randomView>[0];
  const rng = new Rng(5);
  const n = 30 * 30 * 200;
  const joint = new Float64Array(30 * 30);
  let flips = 0;
  for (let i = 0; i < n; i++) {
    const v = randomView(prep, rng);
    assert.ok(v.oy >= 0 && v.oy <= 29 && v.ox >= 0 && v.ox <= 29, `crop at ${v.oy}, ${v.ox} stays inside the image`);
    joint[v.oy * 30 + v.ox]++;
    if (v.flip) flips++;
  }
  // Chi-squared over the 900 (oy, ox) positions, uniform and independent (899 degrees of
  // freedom, standard deviation 42): below 1100 except about once in 10^6.
  const expected = n / 900;
  const chi2 = joint.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 1100, `chi-squared ${chi2.toFixed(1)} over the 900 crop positions`);
  assert.ok(Math.abs(flips / n - 0.5) < 5 * Math.sqrt(0.25 / n), `reflected fraction ${flips / n}`);
});

/** A one-image-channel data set of `count` images of side `size`. */
const images = (count: number, size: number, pixel: (k: number, i: number) => number): Dataset => ({
  name: 'test', classNames: Array.from({ length: 8 }, (_, i) => `c${i}`), channels: 1, size, count,
  pixels: Uint8Array.from({ length: count * size * size }, (_, j) => pixel(Math.floor(j / (size * size)), j % (size * size))),
  labels: Int32Array.from({ length: count }, (_, k) => k % 8),
});
const prepFor = (size: number, crop: number, channels = 1): Preprocessing => ({ channels, size, crop, mean: new Float32Array(channels * size * size), pca: null });
const softmaxRows = (z: number[][]) => z.map((r) => { const m = Math.max(...r); const e = r.map((v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); });

/** A stand-in network whose logits are fixed functions of the crop it sees (8 classes). */
const stub = (logits: (crop: Float32Array, n: number) => number[]): Network => ({
  spec: { classes: 8 },
  probabilities: (x: Tensor) => {
    const [N] = x.shape;
    const per = x.size / N;
    const rows = Array.from({ length: N }, (_, n) => logits(x.data.subarray(n * per, (n + 1) * per) as Float32Array, n));
    return Tensor.trusted([N, 8], Float32Array.from(softmaxRows(rows).flat()));
  },
}) as unknown as Network;

test('ten-crop testing averages the softmax outputs of the ten views, not their logits', () => {
  const d = images(2, 6, (k, i) => (k * 37 + i * 11) % 256);
  const p = prepFor(6, 4);
  const net = stub((crop) => Array.from({ length: 8 }, (_, c) => crop[c] / 20 - crop[c + 8] / 30));
  const got = evaluate(net, d, p, { crops: 10, batch: 2 }).probs;
  const views = tenCropViews(6, 4);
  for (let n = 0; n < 2; n++) {
    const per = views.map((v) => net.probabilities(makeBatch(d, [n], p, [v])).data);
    for (let c = 0; c < 8; c++) {
      const mean = per.reduce((s, q) => s + q[c], 0) / views.length;
      assert.ok(Math.abs(got.data[n * 8 + c] - mean) < 1e-6, `image ${n} class ${c}: ${got.data[n * 8 + c]} against the mean softmax ${mean}`);
    }
  }
});

test('top-5 error counts a label ranked fifth as found and one ranked sixth as missed', () => {
  // Two images, of labels 0 and 1. Classes by score, highest first: image 0's label
  // comes fifth, image 1's sixth.
  const d = images(2, 2, () => 0);
  const byScore = [[7, 6, 5, 4, 0, 3, 2, 1], [7, 6, 5, 4, 3, 1, 2, 0]];
  const net = stub((_crop, n) => {
    const z = new Array<number>(8);
    byScore[n].forEach((c, r) => { z[c] = 10 - r; });
    return z;
  });
  const e = evaluate(net, d, prepFor(2, 2), { crops: 1, batch: 2 });
  assert.is(e.top1, 1);
  assert.is(e.top5, 0.5);
});

test('the colour noise is drawn afresh for every image of a batch', () => {
  // Two identical grey images of one value, no crop to vary: each output image is the
  // value plus its own shift, the same at every pixel of a channel.
  const S = 4;
  const d: Dataset = { ...images(2, S, () => 100), channels: 3, pixels: new Uint8Array(2 * 3 * S * S).fill(100) };
  const p: Preprocessing = { ...prepFor(S, S, 3), pca: { vectors: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], values: [400, 400, 400] } };
  const x = trainingBatch(d, [0, 1], p, new Rng(3));
  const shift = (n: number, c: number) => x.data[(n * 3 + c) * S * S] - 100;
  for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) {
    for (let i = 0; i < S * S; i++) assert.ok(Math.abs(x.data[(n * 3 + c) * S * S + i] - 100 - shift(n, c)) < 1e-4, 'one shift per channel of an image');
  }
  assert.ok([0, 1, 2].some((c) => Math.abs(shift(0, c) - shift(1, c)) > 1e-3), `the two images got the same shift ${[0, 1, 2].map((c) => shift(0, c).toFixed(3))}`);
});

test.run();
