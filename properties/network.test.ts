/**
 * The executor and the network as a whole: the composed network's gradients
 * against finite differences, two towers against one grouped network, where
 * the towers exchange data, and input checking.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlexnetFailure } from '../core/errors.ts';
import { dropoutMasks, Network, type Placement } from '../core/net.ts';
import { initParams, type Params } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { tinySpec } from './nets.ts';
import { assertClose, dot, randn, right } from './support.ts';

const spec = tinySpec();
const ref = createReferenceBackend();
const build = (params: Params, placement: Placement) => right(Network.create(spec, params, placement));

const batch = (seed: number, N = 2) => ({
  x: randn([N, ...spec.input], seed),
  labels: Int32Array.from({ length: N }, (_, i) => (seed + 3 * i) % spec.classes),
  masks: dropoutMasks(spec, N, new Rng(seed)),
});

const axpy = (p: Params, h: number, dir: Params, only?: string): Params =>
  new Map([...p].map(([n, t]) => [n, only && n !== only ? t : t.map((v, i) => v + h * dir.get(n)!.data[i])]));

test('two towers on [reference, reference] give the grouped network\'s logits, loss and gradients', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), (seed) => {
      const params = initParams(spec, seed, 'float64');
      const { x, labels, masks } = batch(seed);
      const one = build(params, [ref]).gradients(x, labels, { train: true, masks, wantInput: true });
      const two = build(params, [ref, ref]).gradients(x, labels, { train: true, masks, wantInput: true });
      assert.ok(Math.abs(one.loss - two.loss) < 1e-12, `loss ${one.loss} vs ${two.loss}`);
      assertClose(two.logits, one.logits, 1e-10, 'logits', 1e-9);
      assertClose(two.dx!, one.dx!, 1e-10, 'input gradient', 1e-9);
      for (const [name, g] of one.grads) assertClose(two.grads.get(name)!, g, 1e-10, name, 1e-9);
    }),
    { numRuns: 4 },
  );
});

test('the composed two-tower network\'s gradients match finite differences (float64)', () => {
  // For each parameter tensor and for the input, the pullback in a random
  // direction c must equal the directional derivative (L(p + h c) - L(p - h c)) / 2h.
  const seed = 11;
  const params = initParams(spec, seed, 'float64');
  const { x, labels, masks } = batch(seed);
  const net = build(params, [ref, ref]);
  const g = net.gradients(x, labels, { train: true, masks, wantInput: true });
  const h = 1e-6;
  const loss = (p: Params, xx: Tensor) => build(p, [ref, ref]).gradients(xx, labels, { train: true, masks }).loss;
  const dir = new Map([...params].map(([n, t], i) => [n, randn(t.shape, 1000 + i)]));
  for (const name of params.keys()) {
    const fd = (loss(axpy(params, h, dir, name), x) - loss(axpy(params, -h, dir, name), x)) / (2 * h);
    const an = dot(g.grads.get(name)!, dir.get(name)!);
    assert.ok(Math.abs(fd - an) <= 1e-6 * Math.max(Math.abs(fd), 1e-2), `${name}: pullback ${an} vs finite difference ${fd}`);
  }
  const cx = randn(x.shape, 5);
  const fd = (loss(params, x.map((v, i) => v + h * cx.data[i])) - loss(params, x.map((v, i) => v - h * cx.data[i]))) / (2 * h);
  const an = dot(g.dx!, cx);
  assert.ok(Math.abs(fd - an) <= 1e-6 * Math.max(Math.abs(fd), 1e-2), `input: pullback ${an} vs finite difference ${fd}`);
});

test('towers exchange data only at conv3, fc6, fc7 and fc8, once each way per tower', () => {
  const params = initParams(spec, 3, 'float64');
  const { x, labels, masks } = batch(3);
  const net = build(params, [ref, ref]);
  net.gradients(x, labels, { train: true, masks });
  const count = (dir: string) => {
    const c: Record<string, number> = {};
    for (const t of net.transfers.filter((r) => r.direction === dir)) c[t.layer] = (c[t.layer] ?? 0) + 1;
    return c;
  };
  // Each reading-both layer sends each tower's maps to the other tower; fc8's
  // logits also meet on tower 0 for the loss, and the loss gradient goes back.
  assert.equal(count('forward'), { conv3: 2, fc6: 2, fc7: 2, fc8: 3 });
  assert.equal(count('backward'), { conv3: 2, fc6: 2, fc7: 2, fc8: 3 });
  const one = build(params, [ref]);
  one.gradients(x, labels, { train: true, masks });
  assert.equal(one.transfers.length, 0, 'one context never transfers');
});

test('the same seed gives the same network; another seed another', () => {
  const a = initParams(spec, 7);
  const b = initParams(spec, 7);
  const c = initParams(spec, 8);
  for (const [n, t] of a) assert.equal(t.toArray(), b.get(n)!.toArray(), n);
  assert.not.equal(a.get('conv1.weight')!.toArray(), c.get('conv1.weight')!.toArray());
});

test('initialisation follows the paper: N(0, initStd^2) weights (0.01 for alexnet), biases 1 in conv2, conv4, conv5, fc6, fc7', async () => {
  const { alexnet, alexnetMini } = await import('../core/alexnet.ts');
  assert.is(alexnet().initStd, 0.01);
  const mini = alexnetMini();
  const sd = mini.initStd;
  const p = initParams(mini, 1);
  for (const l of mini.layers) {
    const bias = p.get(`${l.name}.bias`)!;
    const want = ['conv2', 'conv4', 'conv5', 'fc6', 'fc7'].includes(l.name) ? 1 : 0;
    assert.ok(bias.data.every((v) => v === want), `${l.name} biases should be ${want}`);
  }
  const w = Array.from(p.get("conv2.weight")!.data);
  const mean = w.reduce((s, v) => s + v, 0) / w.length;
  const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
  assert.ok(Math.abs(mean) < 3 * sd / Math.sqrt(w.length) + 1e-5, `mean ${mean}`);
  assert.ok(Math.abs(std - sd) < 0.05 * sd, `std ${std}`);
});

test('bad input gets a clear error naming what was wrong', () => {
  const params = initParams(spec, 1);
  const net = build(params, [ref, ref]);
  const wrong = Tensor.zeros([1, 3, 30, 31]);
  assert.throws(() => net.forward(wrong), (e: unknown) => e instanceof AlexnetFailure && /takes input \[N, 3, 31, 31\], got \[1, 3, 30, 31\]/.test(e.message));
  const x = Tensor.zeros([2, ...spec.input]);
  assert.throws(() => net.gradients(x, Int32Array.of(0)), (e: unknown) => e instanceof AlexnetFailure && /1 labels for a batch of 2/.test(e.message));
  assert.throws(() => net.gradients(x, Int32Array.of(0, 9)), (e: unknown) => e instanceof AlexnetFailure && /label 9 .* outside 0\.\.4/.test(e.message));
  const missing = new Map(params);
  missing.delete('fc7.bias');
  const r = Network.create(spec, missing, [ref]);
  assert.ok(E.isLeft(r) && /fc7\.bias/.test(r.left.message));
  const three = Network.create(spec, params, [ref, ref, ref]);
  assert.ok(E.isLeft(three) && /not 3/.test(three.left.message));
});

test.run();
