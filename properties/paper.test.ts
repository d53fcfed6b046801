/**
 * Facts of the paper pinned by routes independent of the code that implements
 * them (docs/facts.md lists every fact and its test):
 *
 * - dropout (section 4.2): each unit of fc6 and fc7 dropped with probability
 *   0.5, and, inverted, the expected output equals the input: the mean of the
 *   output over many masks converges to the input;
 * - crops and reflections (section 4.1): every crop position of a 227 crop in
 *   a 256 image is equally likely, and half the crops are reflected;
 * - the paper's constants in the table: LRN k = 2, n = 5, alpha = 1e-4,
 *   beta = 0.75; pooling 3/2; dropout 0.5; the update's momentum 0.9, weight
 *   decay 0.0005 and rate 0.01 (section 5).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnet } from '../core/alexnet.ts';
import { randomView } from '../core/data/augment.ts';
import { dropoutMasks } from '../core/net.ts';
import { Rng } from '../core/rng.ts';
import { PAPER_SGD } from '../core/train/schedule.ts';

test("the table's constants are the paper's", () => {
  const spec = alexnet();
  assert.equal({ ...spec.lrn }, { k: 2, n: 5, alpha: 1e-4, beta: 0.75 });
  assert.equal({ ...spec.pool }, { size: 3, stride: 2 });
  assert.is(spec.dropout, 0.5);
  assert.is(spec.initStd, 0.01);
  assert.equal({ ...PAPER_SGD }, { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 });
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

test('crops: every position of a 227 crop in a 256 image is equally likely, and half are reflected', () => {
  const prep = { size: 256, crop: 227 } as Parameters<typeof randomView>[0];
  const rng = new Rng(5);
  const n = 30 * 30 * 200;
  const counts = new Float64Array(30);
  let flips = 0;
  for (let i = 0; i < n; i++) {
    const v = randomView(prep, rng);
    assert.ok(v.oy >= 0 && v.oy <= 29 && v.ox >= 0 && v.ox <= 29, `crop at ${v.oy}, ${v.ox} stays inside the image`);
    counts[v.ox]++;
    if (v.flip) flips++;
  }
  // Chi-squared over the 30 horizontal offsets (29 degrees of freedom): below 70 except once in ~10^5.
  const expected = n / 30;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 70, `chi-squared ${chi2.toFixed(1)} over 30 offsets`);
  assert.ok(Math.abs(flips / n - 0.5) < 5 * Math.sqrt(0.25 / n), `reflected fraction ${flips / n}`);
});

test.run();
