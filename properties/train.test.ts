/**
 * The training recipe: the SGD update against a hand-computed step, the
 * plateau schedule, top-k error, a tiny network learning the synthetic data,
 * and reproducibility (same seed, same result; a resumed run equals an
 * uninterrupted one).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import { topKError, topKMisses } from '../core/train/metrics.ts';
import { initialState, train, type TrainState } from '../core/train/loop.ts';
import { checkDropAt, PAPER_SGD, plateauStart, plateauStep, steppedRate } from '../core/train/schedule.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { fitPreprocessing } from '../core/data/augment.ts';
import { holdOut } from '../core/data/dataset.ts';
import { tinyConfig, tinyData, tinySetup, tinySpec } from './train-support.ts';

test('the paper\'s update, checked against a step computed by hand', () => {
  // v' = 0.9 v - 0.0005 * lr * w - lr * g ; w' = w + v'   with lr = 0.1:
  //   w = 1,  v = 0.5, g = 2:  v' = 0.45 - 0.00005 - 0.2 = 0.24995,  w' = 1.24995
  //   w = -2, v = 0,   g = 1:  v' = 0 + 0.0001 - 0.1   = -0.0999,   w' = -2.0999
  //   w = 4,  v = -1,  g = 0:  v' = -0.9 - 0.0002        = -0.9002,   w' = 3.0998
  const be = createReferenceBackend();
  const w = be.upload(orThrow(Tensor.of([3], [1, -2, 4], 'float64')));
  const v = be.upload(orThrow(Tensor.of([3], [0.5, 0, -1], 'float64')));
  const g = be.upload(orThrow(Tensor.of([3], [2, 1, 0], 'float64')));
  const r = be.sgdUpdate(w, v, g, { ...PAPER_SGD, lr: 0.1 });
  const close = (a: number[], b: number[]) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-12, `${a} vs ${b}`));
  close(be.download(r.v).toArray(), [0.24995, -0.0999, -0.9002]);
  close(be.download(r.w).toArray(), [1.24995, -2.0999, 3.0998]);
});

test('a training step moves every parameter by the paper\'s update of its gradient, momentum included', () => {
  const spec = tinySpec(4, 1);
  const p0 = initParams(spec, 5, 'float64');
  const net = orThrow(Network.create(spec, p0, [createReferenceBackend()]));
  const rng = new Rng(9);
  const x = Tensor.trusted([3, 1, 16, 16], Float64Array.from({ length: 3 * 256 }, () => rng.normal(0, 50)));
  const labels = Int32Array.of(0, 3, 1);
  const masks = new Map([...spec.layers].filter((l) => l.after.includes('dropout')).map((l) => [l.name, Tensor.trusted([3, l.out], Float64Array.from({ length: 3 * l.out }, (_, i) => (i % 3 === 0 ? 0 : 2)))]));
  const sgd = { ...PAPER_SGD, lr: 0.05 };
  // two steps: the second one has a non-zero velocity to carry
  let w = p0;
  let v = new Map([...p0].map(([n, t]) => [n, Tensor.zeros(t.shape, 'float64')]));
  for (let step = 0; step < 2; step++) {
    const g = net.gradients(x, labels, { train: true, masks }).grads;
    net.trainStep(x, labels, sgd, { masks });
    const wNow = net.parameters();
    const vNow = net.velocities();
    for (const [n, wt] of w) {
      const gt = g.get(n)!;
      const vt = v.get(n)!;
      for (let i = 0; i < wt.size; i++) {
        const vExp = 0.9 * vt.data[i] - 0.0005 * 0.05 * wt.data[i] - 0.05 * gt.data[i];
        assert.ok(Math.abs(vNow.get(n)!.data[i] - vExp) <= 1e-12 * (1 + Math.abs(vExp)), `${n}[${i}] velocity`);
        assert.ok(Math.abs(wNow.get(n)!.data[i] - (wt.data[i] + vExp)) <= 1e-12 * (1 + Math.abs(wt.data[i])), `${n}[${i}] weight`);
      }
    }
    w = wNow;
    v = vNow as Map<string, Tensor>;
  }
});

test('plateau schedule: the rate drops by 10 after `patience` validations without a new best, three times at most, then training is done', () => {
  const o = { patience: 2, factor: 10, maxDrops: 3 };
  let s = plateauStart(0.01);
  const errs = [0.5, 0.4, 0.41, 0.39, 0.39, 0.395, 0.3, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36];
  const lrs: number[] = [];
  for (const e of errs) { s = plateauStep(s, e, o); lrs.push(s.lr); }
  // 0.41 (1 without), 0.39 best, 0.39 (1), 0.395 (2) -> drop; 0.3 best; 0.31, 0.32 -> drop; 0.33, 0.34 -> drop; 0.35, 0.36 -> done
  assert.equal(lrs.map((x) => +x.toExponential(3)), [0.01, 0.01, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 1e-4, 1e-4, 1e-5, 1e-5, 1e-5]);
  assert.is(s.drops, 3);
  assert.ok(s.done);
  assert.is(s.best, 0.3);
});

test('step schedule: the rate is divided by 10 after each listed epoch, and the listed epochs are checked', () => {
  assert.equal([0, 1, 2, 3, 4, 5, 9].map((e) => +steppedRate(0.01, [2, 4], 10, e).toExponential(3)), [0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4, 1e-4]);
  assert.is(steppedRate(0.01, [], 10, 50), 0.01);
  assert.is(checkDropAt([15, 25], 30), null);
  assert.is(checkDropAt([], 1), null);
  assert.match(checkDropAt([0], 30)!, 'at least 1');
  assert.match(checkDropAt([1.5], 30)!, 'whole numbers');
  assert.match(checkDropAt([5, 5], 30)!, 'must rise');
  assert.match(checkDropAt([5, 30], 30)!, 'never happens in a run of 30 epochs');
});

test('a step schedule trains every epoch at its rate and ignores the plateau test', () => {
  // patience 1 with no drops allowed would end the plateau schedule at the first validation
  // without a new best; the step schedule runs all four epochs whatever the validation error.
  const { train: tr, val, prep, net } = tinySetup(3, tinyData(200, 20));
  const c = tinyConfig({ epochs: 4, validateEvery: 0, dropAt: [1, 3], plateau: { patience: 1, factor: 10, maxDrops: 0 } });
  const out = train(net, { train: tr, val }, prep, c, initialState(c), { save: () => {} });
  assert.is(out.kind, 'finished');
  assert.is(out.state.epoch, 4);
  assert.equal(out.state.history.map((p) => +p.lr.toExponential(3)), [0.01, 0.001, 0.001, 1e-4]);
  assert.is(out.state.schedule.done, false);
  assert.is(out.state.schedule.best, Math.min(...out.state.history.map((p) => p.valError)));
});

test('top-k error counts the images whose label is not among the k best scores', () => {
  const scores = orThrow(Tensor.of([3, 4], [0.1, 0.5, 0.2, 0.2, 0.9, 0.05, 0.03, 0.02, 0.25, 0.25, 0.25, 0.25]));
  const labels = [2, 0, 3];
  assert.is(topKMisses(scores, labels, 1), 2); // row 0: 1 wins; row 2: a tie goes against the label
  assert.is(topKMisses(scores, labels, 2), 1); // row 0: label 2 ties label 3 and comes first, so it is second
  assert.is(topKMisses(scores, labels, 4), 0);
  assert.is(topKError(scores, labels, 1), 2 / 3);
});

test('a tiny network\'s loss falls on the synthetic data', () => {
  // Eight units per conv layer, 32 per fc layer, four classes of bars. Dropout is off and the
  // weights start wider (0.15): on so few units, dropout and a small start stall learning for
  // longer than a test should run.
  const data = tinyData(400, 10, 7, 4);
  const spec = { ...tinySpec(4, 3, 0.15), dropout: 0 };
  const { train: tr, val } = holdOut(data.train, 40, 3);
  const prep = fitPreprocessing(tr, 16);
  const net = orThrow(Network.create(spec, initParams(spec, 3), [createReferenceBackend()]));
  const c = tinyConfig({ epochs: 5, validateEvery: 18, batch: 20 });
  const out = train(net, { train: tr, val }, prep, c, initialState(c), { save: () => {} });
  assert.is(out.kind, 'finished');
  const h = out.state.history;
  assert.is(h.length, 5);
  const first = h[0].trainLoss;
  const last = h[h.length - 1].trainLoss;
  assert.ok(last < 0.75 * first, `training loss ${first.toFixed(3)} -> ${last.toFixed(3)} should fall by a quarter at least`);
  assert.ok(last < Math.log(4), `training loss ${last.toFixed(3)} should end below chance level, ln 4`);
});

type Resumable = { state: TrainState; params: Map<string, Tensor>; velocity: Map<string, Tensor> };
const runSteps = (steps: number, start?: Resumable, dropAt: number[] = []) => {
  const { spec, train: tr, val, prep } = tinySetup(3, tinyData(200, 20));
  const net = orThrow(Network.create(spec, start?.params ?? initParams(spec, 3), [createReferenceBackend()], start?.velocity));
  const c = tinyConfig({ epochs: 3, validateEvery: 4, dropAt });
  let n = 0;
  const out = train(net, { train: tr, val }, prep, c, start?.state ?? initialState(c), { save: () => {}, shouldStop: () => ++n >= steps });
  return { state: out.state, params: net.parameters() as Map<string, Tensor>, velocity: net.velocities() as Map<string, Tensor> };
};

const sameBits = (a: ReadonlyMap<string, Tensor>, b: ReadonlyMap<string, Tensor>) => {
  for (const [n, t] of a) assert.ok(Buffer.from(t.data.buffer).equals(Buffer.from(b.get(n)!.data.buffer)), `${n} differs`);
};

test('same seed, same data order, same result: two runs agree bit for bit', () => {
  const a = runSteps(7);
  const b = runSteps(7);
  sameBits(a.params, b.params);
  sameBits(a.velocity, b.velocity);
  assert.equal(a.state, b.state);
});

test('a run stopped and resumed from its state continues exactly as an uninterrupted one (across an epoch boundary)', () => {
  const whole = runSteps(13); // 8 steps per epoch: crosses into epoch 2
  const first = runSteps(6);
  assert.is(first.state.step, 6);
  const rest = runSteps(7, first);
  assert.is(rest.state.epoch, 1);
  sameBits(whole.params, rest.params);
  sameBits(whole.velocity, rest.velocity);
  assert.equal(whole.state.history, rest.state.history);
});

test('with a step schedule, a run resumed after a drop continues at the dropped rate, as an uninterrupted one', () => {
  const whole = runSteps(13, undefined, [1]);
  const first = runSteps(10, undefined, [1]); // stops in epoch 2, after the drop
  assert.is(first.state.schedule.lr, 0.001);
  const rest = runSteps(3, first, [1]);
  sameBits(whole.params, rest.params);
  assert.equal(whole.state.history, rest.state.history);
  assert.equal(whole.state.history.map((p) => p.lr), [0.01, 0.01, 0.001]);
});

test.run();
