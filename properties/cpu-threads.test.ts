/**
 * The CPU backend sharing batches between worker threads: every kernel gives
 * the same values on two threads as on one (the same bits, except the filter
 * gradient, whose per-thread partial sums round differently), a training step
 * of alexnet-mini agrees, results come back in ordinary memory, and a worker's
 * error reaches the caller with its message, leaving the pool usable.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnetMini } from '../core/alexnet.ts';
import type { Backend, Handle } from '../core/backend.ts';
import { dropoutMasks, Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import type { Tensor } from '../core/tensor.ts';
import { createCpuBackend } from '../backends/cpu/index.ts';
import { defaultThreadCount, sharedF32, threadsFor } from '../backends/cpu/threads.ts';
import { convCase } from './arbitraries.ts';
import { maxRelError, randn, right } from './support.ts';
import { compare, networkReductions, reductionTolerance } from './kit/tolerance.ts';

const one = createCpuBackend({ name: 'cpu1', threads: 1 });
const two = createCpuBackend({ name: 'cpu2', threads: 2 });

const run = (be: Backend, inputs: Tensor[], call: (be: Backend, ...hs: Handle[]) => Handle): Tensor =>
  be.download(call(be, ...inputs.map((t) => be.upload(t))));

const identical = (what: string, inputs: Tensor[], call: (be: Backend, ...hs: Handle[]) => Handle) => {
  const [a, b] = [run(one, inputs, call), run(two, inputs, call)];
  assert.equal(b.shape, a.shape, `${what} shape`);
  for (let i = 0; i < a.size; i++) {
    if (!Object.is(a.data[i], b.data[i])) throw new Error(`${what}: at ${i}, two threads give ${b.data[i]}, one thread ${a.data[i]}`);
  }
  assert.ok(!(b.data.buffer instanceof SharedArrayBuffer), `${what}: the download is in shared memory`);
};

test('the backends report their thread counts', () => {
  assert.is(one.threads, 1);
  assert.is(two.threads, 2);
});

test('convolutions give the same bits on two threads as on one; the filter gradient agrees to rounding', () => {
  fc.assert(
    fc.property(convCase, ({ p, x, w, b, t }) => {
      const [x32, w32, b32, t32] = [x, w, b, t].map((u) => u.as('float32'));
      identical('conv2d', [x32, w32, b32], (be, xh, wh, bh) => be.conv2d(xh, wh, bh, p));
      identical('conv2dGradInput', [t32, w32], (be, th, wh) => be.conv2dGradInput(th, wh, x.shape, p));
      // Each filter gradient sums N x OH x OW products, split between the
      // threads: the two sums may differ by the float32 rounding of that
      // reduction (properties/tolerance.ts), scaled by the sum of |products|.
      const f = (be: Backend, xs: Tensor, ts: Tensor) => run(be, [xs, ts], (be, xh, th) => be.conv2dGradFilter(xh, th, w.shape, p));
      const [N, , OH, OW] = t.shape;
      const scale = Math.max(...f(one, x32.map(Math.abs), t32.map(Math.abs)).data);
      const c = compare(f(two, x32, t32).data, f(one, x32, t32).data, reductionTolerance(N * OH * OW, scale));
      assert.ok(c.ok, `conv2dGradFilter: ${c.worstRatio.toFixed(2)} times the rounding a float32 sum of ${N * OH * OW} terms allows`);
    }),
    { numRuns: 40 },
  );
});

test('relu, lrn and max-pooling give the same bits on two threads as on one, on maps big enough to split', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 3, max: 12 }), fc.integer({ min: 1, max: 2 }), fc.integer(), (N, C, stride, seed) => {
      const s = [N, C, 75, 75];
      const x = randn(s, seed).as('float32');
      const dy = randn(s, seed + 1).as('float32');
      const lp = { k: 2, n: 5, alpha: 1e-2, beta: 0.75 };
      const pp = { size: 3, stride };
      identical('relu', [x], (be, h) => be.relu(h));
      identical('reluGrad', [x, dy], (be, y, d) => be.reluGrad(y, d));
      identical('lrn', [x], (be, h) => be.lrn(h, lp));
      identical('lrnGrad', [x, dy], (be, h, d) => be.lrnGrad(h, d, lp));
      identical('maxPool', [x], (be, h) => be.maxPool(h, pp));
      const pdy = randn(one.maxPool(one.upload(x), pp).shape, seed + 2).as('float32');
      identical('maxPoolGrad', [x, pdy], (be, h, d) => be.maxPoolGrad(h, d, pp));
    }),
    { numRuns: 8 },
  );
});

test('a training step of alexnet-mini on two threads agrees with one thread', () => {
  const spec = alexnetMini();
  const params = initParams(spec, 8);
  const x = randn([6, ...spec.input], 8, 50).as('float32');
  const labels = Int32Array.of(0, 1, 2, 3, 4, 5);
  const masks = dropoutMasks(spec, 6, new Rng(8));
  const sgd = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
  const a = right(Network.create(spec, params, [one, one]));
  const b = right(Network.create(spec, params, [two, two]));
  const ra = a.trainStep(x, labels, sgd, { masks });
  const rb = b.trainStep(x, labels, sgd, { masks });
  assert.ok(Math.abs(ra.loss - rb.loss) <= 1e-6 * Math.abs(ra.loss), `loss ${rb.loss} vs ${ra.loss}`);
  // Only the filter gradients' partial sums round differently: a layer's
  // parameters may differ by the rounding of its gradient's reduction (over the
  // batch and the output positions), the bound of properties/tolerance.ts.
  const pa = a.parameters();
  const bounds = new Map(networkReductions(spec, 6).map((l) => [l.name, reductionTolerance(l.paramGrad, 0).rtol]));
  for (const [name, t] of b.parameters()) {
    const e = maxRelError(t, pa.get(name)!, 1e-3);
    const bound = bounds.get(name.split('.')[0])!;
    assert.ok(e <= bound, `${name}: relative difference ${e.toExponential(2)}, over the ${bound.toExponential(2)} a float32 sum of its gradient's length allows`);
  }
});

test("a worker thread's error reaches the caller with its message, and the pool still works", () => {
  const pool = threadsFor(2);
  const y = sharedF32(4);
  // One item in two shares: the calling thread's share is empty, the worker's
  // reads from a missing input.
  assert.throws(
    () => pool.run('relu', { x: null as unknown as Float32Array, y }, 1, 2),
    (e: Error) => /worker thread 1, relu: .*null/.test(e.message),
  );
  assert.throws(() => pool.run('nope' as 'relu', { x: y, y }, 4), /no task named 'nope'/);
  const x = sharedF32(4);
  x.set([-1, 2, -3, 4]);
  pool.run('relu', { x, y }, 4, 2);
  assert.equal([...y], [0, 2, 0, 4]);
});

test('ALEXNET_CPU_THREADS is read, and a bad value is an error naming it', () => {
  const saved = process.env.ALEXNET_CPU_THREADS;
  try {
    process.env.ALEXNET_CPU_THREADS = '3';
    assert.is(defaultThreadCount(), 3);
    for (const bad of ['0', 'two', '1.5', '-2']) {
      process.env.ALEXNET_CPU_THREADS = bad;
      assert.throws(() => defaultThreadCount(), /ALEXNET_CPU_THREADS=.*whole number/);
    }
  } finally {
    if (saved === undefined) delete process.env.ALEXNET_CPU_THREADS;
    else process.env.ALEXNET_CPU_THREADS = saved;
  }
});

test.run();
