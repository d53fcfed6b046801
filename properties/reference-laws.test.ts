/**
 * Laws the reference kernels must obey, whatever the shapes and values:
 * convolution is linear in its input and in its filters; a grouped convolution
 * equals convolving the channel groups apart and concatenating; ReLU is
 * idempotent; max-pooling a constant map gives that constant; LRN with alpha = 0
 * is x / k^beta; softmax rows sum to 1 and cross-entropy is never negative.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../core/tensor.ts';
import { conv2d } from '../reference/conv.ts';
import { lrn } from '../reference/lrn.ts';
import { concat, slice } from '../reference/plumbing.ts';
import { maxPool } from '../reference/pool.ts';
import { relu } from '../reference/relu.ts';
import { softmax, softmaxCrossEntropy } from '../reference/softmax.ts';
import { convCase } from './arbitraries.ts';
import { assertClose, randn } from './support.ts';

const RUNS = 40;
const zerosLike = (t: Tensor) => Tensor.zeros(t.shape, 'float64');
const lin = (a: number, x: Tensor, b: number, y: Tensor) => x.map((v, i) => a * v + b * y.data[i]);

test('conv2d is linear in its input', () => {
  fc.assert(
    fc.property(convCase, fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), ({ p, x, w, b }, a, c) => {
      const x2 = randn(x.shape, 99);
      const zero = zerosLike(b);
      const lhs = conv2d(lin(a, x, c, x2), w, zero, p);
      const rhs = lin(a, conv2d(x, w, zero, p), c, conv2d(x2, w, zero, p));
      assertClose(lhs, rhs, 1e-10, 'conv(a x + c x2)', 1e-6);
    }),
    { numRuns: RUNS },
  );
});

test('conv2d is linear in its filters', () => {
  fc.assert(
    fc.property(convCase, fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), ({ p, x, w, b }, a, c) => {
      const w2 = randn(w.shape, 77);
      const zero = zerosLike(b);
      const lhs = conv2d(x, lin(a, w, c, w2), zero, p);
      const rhs = lin(a, conv2d(x, w, zero, p), c, conv2d(x, w2, zero, p));
      assertClose(lhs, rhs, 1e-10, 'conv(x, a w + c w2)', 1e-6);
    }),
    { numRuns: RUNS },
  );
});

test('grouped conv2d equals convolving each channel group apart and concatenating', () => {
  fc.assert(
    fc.property(convCase, ({ p, x, w, b }) => {
      const g = p.groups;
      const Cg = x.shape[1] / g;
      const Fg = w.shape[0] / g;
      const parts = Array.from({ length: g }, (_, i) =>
        conv2d(slice(x, i * Cg, Cg), rowsOf(w, i * Fg, Fg), rowsOf(b, i * Fg, Fg), { ...p, groups: 1 }),
      );
      assertClose(conv2d(x, w, b, p), concat(parts), 1e-12, 'grouped vs split', 1e-9);
    }),
    { numRuns: RUNS },
  );
});

const rowsOf = (t: Tensor, start: number, count: number): Tensor => {
  const inner = t.size / t.shape[0];
  return Tensor.trusted([count, ...t.shape.slice(1)], t.data.slice(start * inner, (start + count) * inner));
};

const mapShape = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }));

test('relu is idempotent and never negative', () => {
  fc.assert(
    fc.property(mapShape, fc.integer(), (shape, seed) => {
      const y = relu(randn(shape, seed));
      assert.equal(relu(y).toArray(), y.toArray());
      assert.ok(y.data.every((v) => v >= 0));
    }),
    { numRuns: RUNS },
  );
});

test('max-pooling a constant map gives the constant', () => {
  fc.assert(
    fc.property(mapShape, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.double({ min: -100, max: 100, noNaN: true }), ([N, C, h, w], size, stride, v) => {
      const x = Tensor.fill([N, C, h + size, w + size], v, 'float64');
      const y = maxPool(x, { size, stride });
      assert.ok(y.data.every((u) => u === v), `every output should be ${v}`);
    }),
    { numRuns: RUNS },
  );
});

test('each max-pool output is the largest value of its window', () => {
  fc.assert(
    fc.property(mapShape, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer(), ([N, C, h, w], size, stride, seed) => {
      const x = randn([N, C, h + size, w + size], seed);
      const y = maxPool(x, { size, stride });
      const [, , OH, OW] = y.shape;
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++)
          for (let oy = 0; oy < OH; oy++)
            for (let ox = 0; ox < OW; ox++) {
              const window: number[] = [];
              for (let dy = 0; dy < size; dy++)
                for (let dx = 0; dx < size; dx++) window.push(x.at(n, c, oy * stride + dy, ox * stride + dx));
              assert.is(y.at(n, c, oy, ox), Math.max(...window));
            }
    }),
    { numRuns: RUNS },
  );
});

test('lrn with alpha = 0 is x / k^beta', () => {
  fc.assert(
    fc.property(mapShape, fc.double({ min: 0.5, max: 4, noNaN: true }), fc.integer({ min: 1, max: 7 }), fc.double({ min: 0.1, max: 2, noNaN: true }), fc.integer(), (shape, k, n, beta, seed) => {
      const x = randn(shape, seed);
      assertClose(lrn(x, { k, n, alpha: 0, beta }), x.map((v) => v / k ** beta), 1e-12, 'lrn alpha=0', 1e-12);
    }),
    { numRuns: RUNS },
  );
});

test('lrn divides by the paper\'s sum over the n neighbouring channels', () => {
  // One column of 6 channels, n = 5: channel 0 sums channels 0..2, channel 3 sums 1..5.
  const a = [1, 2, 3, 4, 5, 6];
  const x = Tensor.trusted([1, 6, 1, 1], Float64Array.from(a));
  const p = { k: 2, n: 5, alpha: 0.1, beta: 0.75 };
  const y = lrn(x, p);
  const expect = (i: number) => {
    let s = 0;
    for (let j = Math.max(0, i - 2); j <= Math.min(5, i + 2); j++) s += a[j] ** 2;
    return a[i] / (p.k + p.alpha * s) ** p.beta;
  };
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(y.data[i] - expect(i)) < 1e-12, `channel ${i}`);
});

test('softmax rows sum to 1 and cross-entropy is not negative', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 10 }), fc.double({ min: 0.1, max: 50, noNaN: true }), fc.integer(), (N, K, scale, seed) => {
      const z = randn([N, K], seed, scale);
      const p = softmax(z);
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += p.data[n * K + k];
        assert.ok(Math.abs(s - 1) < 1e-12, `row ${n} sums to ${s}`);
      }
      const labels = Int32Array.from({ length: N }, (_, i) => ((seed >>> 0) + i) % K);
      assert.ok(softmaxCrossEntropy(z, labels).loss >= 0);
    }),
    { numRuns: RUNS },
  );
});

test.run();
