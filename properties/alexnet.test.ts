/**
 * The paper's network as a whole: its table (parameters, feature-map sizes,
 * cost) and one full forward and backward pass at 227 x 227 on the reference.
 */
import * as E from 'fp-ts/lib/Either.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnet, alexnetMini, describe, macCount, modelByName, parameterCount } from '../core/alexnet.ts';
import { Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { dot, randn, right } from './support.ts';

const rows = right(describe(alexnet()));

test('AlexNet has 60,965,224 parameters, split by layer as in ALEXNET.md', () => {
  assert.is(parameterCount(rows), 60_965_224);
  assert.equal(
    Object.fromEntries(rows.map((r) => [r.name, r.params])),
    { conv1: 34_944, conv2: 307_456, conv3: 885_120, conv4: 663_936, conv5: 442_624, fc6: 37_752_832, fc7: 16_781_312, fc8: 4_097_000 },
  );
});

test('feature maps: 55x55x96 -> 27x27x96 -> 27x27x256 -> 13x13x256 -> 13x13x384 -> 13x13x384 -> 13x13x256 -> 6x6x256 -> 4096 -> 4096 -> 1000', () => {
  const maps = rows.flatMap((r) => (r.convShape === r.outShape || r.convShape.join() === r.outShape.join() ? [r.outShape] : [r.convShape, r.outShape]));
  const hwc = maps.map((s) => (s.length === 3 ? `${s[1]}x${s[2]}x${s[0]}` : `${s[0]}`));
  assert.equal(hwc, ['55x55x96', '27x27x96', '27x27x256', '13x13x256', '13x13x384', '13x13x384', '13x13x256', '6x6x256', '4096', '4096', '1000']);
  assert.ok(Math.abs(macCount(rows) / 1e9 - 0.72) < 0.01, 'about 0.72 G multiply-adds per image');
});

test('a spec that does not fit together is refused with a reason', () => {
  const small = { ...alexnet(), input: [3, 32, 32] as const };
  const r = describe(small);
  assert.ok(E.isLeft(r) && /too small|smaller than/.test(r.left.message), E.isLeft(r) ? r.left.message : 'accepted');
  const m = modelByName('vgg');
  assert.ok(E.isLeft(m) && /unknown model 'vgg'.*alexnet, alexnet-mini/.test(m.left.message));
  assert.ok(E.isRight(describe(alexnetMini())));
});

test('full AlexNet, batch 1: one forward and backward pass on two reference towers gives finite gradients that agree with a directional derivative', () => {
  // float64 so the directional check is meaningful: for a random direction c
  // over every parameter, <grad, c> must equal (L(p + h c) - L(p - h c)) / 2h.
  const spec = alexnet();
  const params = initParams(spec, 2012, 'float64');
  const ref = createReferenceBackend();
  const x = randn([1, 3, 227, 227], 1);
  const labels = Int32Array.of(281);
  const net = right(Network.create(spec, params, [ref, ref]));
  const g = net.gradients(x, labels, { train: true, rng: new Rng(5) });
  assert.equal(g.logits.shape, [1, 1000]);
  assert.ok(Number.isFinite(g.loss));
  for (const [name, t] of g.grads) {
    assert.equal(t.shape, params.get(name)!.shape, `${name} gradient shape`);
    assert.ok(t.data.every(Number.isFinite), `${name} gradient is finite`);
  }
  assert.ok(g.grads.get('conv1.weight')!.data.some((v) => v !== 0), 'the gradient reaches conv1');
  // Deterministic pass (no dropout) for the directional derivative.
  const det = net.gradients(x, labels);
  const dirs = new Map([...params].map(([n, t], i) => [n, randn(t.shape, 100 + i)]));
  const h = 1e-7;
  const lossAt = (s: number) => {
    const shifted = new Map([...params].map(([n, t]) => [n, t.map((v, i) => v + s * h * dirs.get(n)!.data[i])]));
    return right(Network.create(spec, shifted, [ref])).gradients(x, labels).loss;
  };
  const fd = (lossAt(1) - lossAt(-1)) / (2 * h);
  const an = [...det.grads].reduce((sum, [n, gr]) => sum + dot(gr, dirs.get(n)!), 0);
  // A step along 61 million directions at once can cross a few ReLU and max-pool
  // kinks, so this whole-network check allows 1e-5 (each kernel is held to 1e-6 alone).
  assert.ok(Math.abs(fd - an) <= 1e-5 * Math.max(Math.abs(an), 1e-2), `directional derivative: pullback ${an}, finite difference ${fd}`);
});

test.run();
