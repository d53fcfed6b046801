/**
 * Every backward kernel of the reference agrees with central finite
 * differences of its forward kernel, in float64.
 *
 * For a kernel y = f(x) and a random cotangent t, the scalar phi(x) = <t, f(x)>
 * has gradient (pullback of t); each coordinate is compared with
 * (phi(x + h e_i) - phi(x - h e_i)) / 2h. The error is measured relative to the
 * gradient's largest entry (or to 0.01 when every entry is smaller, where a
 * difference quotient measures rounding more than slope) and must stay below 1e-6.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import type { Tensor } from '../core/tensor.ts';
import { biasGrad, conv2d, conv2dGradFilter, conv2dGradInput } from '../reference/conv.ts';
import { dropout, dropoutGrad } from '../reference/dropout.ts';
import { linear, linearGradInput, linearGradWeight } from '../reference/linear.ts';
import { lrn, lrnGrad } from '../reference/lrn.ts';
import { maxPool, maxPoolGrad } from '../reference/pool.ts';
import { relu, reluGrad } from '../reference/relu.ts';
import { softmaxCrossEntropy } from '../reference/softmax.ts';
import { convCase } from './arbitraries.ts';
import { dot, numericGradient, randn, separated } from './support.ts';

const H = 1e-5;
const TOL = 1e-6;
const RUNS = 40;

const check = (analytic: Tensor, f: (x: Tensor) => number, x: Tensor, what: string) => {
  const numeric = numericGradient(f, x, H);
  let scale = 1e-2; // below this, finite differences measure rounding, not the gradient
  let worst = 0;
  for (let i = 0; i < numeric.size; i++) scale = Math.max(scale, Math.abs(numeric.data[i]));
  for (let i = 0; i < numeric.size; i++) worst = Math.max(worst, Math.abs(analytic.data[i] - numeric.data[i]));
  if (!(worst / scale < TOL)) throw new Error(`${what}: relative error ${(worst / scale).toExponential(3)} >= ${TOL}`);
};

test('conv2d: input, filter and bias gradients match finite differences', () => {
  fc.assert(
    fc.property(convCase, ({ p, x, w, b, t }) => {
      check(conv2dGradInput(t, w, x.shape, p), (xx) => dot(t, conv2d(xx, w, b, p)), x, 'conv2dGradInput');
      check(conv2dGradFilter(x, t, w.shape, p), (ww) => dot(t, conv2d(x, ww, b, p)), w, 'conv2dGradFilter');
      check(biasGrad(t), (bb) => dot(t, conv2d(x, w, bb, p)), b, 'biasGrad');
    }),
    { numRuns: RUNS },
  );
});

test('linear: input, weight and bias gradients match finite differences', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), fc.integer(), (N, K, M, seed) => {
      const x = randn([N, K], seed);
      const w = randn([M, K], seed + 1);
      const b = randn([M], seed + 2);
      const t = randn([N, M], seed + 3);
      check(linearGradInput(t, w), (xx) => dot(t, linear(xx, w, b)), x, 'linearGradInput');
      check(linearGradWeight(x, t), (ww) => dot(t, linear(x, ww, b)), w, 'linearGradWeight');
      check(biasGrad(t), (bb) => dot(t, linear(x, w, bb)), b, 'biasGrad (fc)');
    }),
    { numRuns: RUNS },
  );
});

const mapShape = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }));

test('relu: gradient matches finite differences away from the kink', () => {
  fc.assert(
    fc.property(mapShape, fc.integer(), (shape, seed) => {
      const x = separated(shape, seed);
      const t = randn(shape, seed + 1);
      check(reluGrad(relu(x), t), (xx) => dot(t, relu(xx)), x, 'reluGrad');
    }),
    { numRuns: RUNS },
  );
});

test('lrn: gradient matches finite differences for any k, n, alpha, beta', () => {
  fc.assert(
    fc.property(
      mapShape,
      fc.record({
        k: fc.double({ min: 0.5, max: 3, noNaN: true }),
        n: fc.integer({ min: 1, max: 7 }),
        alpha: fc.double({ min: 0, max: 1, noNaN: true }),
        beta: fc.double({ min: 0.25, max: 1.5, noNaN: true }),
      }),
      fc.integer(),
      (shape, lp, seed) => {
        const x = randn(shape, seed);
        const t = randn(shape, seed + 1);
        check(lrnGrad(x, t, lp), (xx) => dot(t, lrn(xx, lp)), x, 'lrnGrad');
      },
    ),
    { numRuns: RUNS },
  );
});

test('maxPool: gradient matches finite differences (overlapping and not)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.integer(),
      (N, C, size, stride, eh, ew, seed) => {
        const shape = [N, C, size + eh, size + ew];
        const p = { size, stride };
        const x = separated(shape, seed);
        const t = randn(maxPool(x, p).shape, seed + 1);
        check(maxPoolGrad(x, t, p), (xx) => dot(t, maxPool(xx, p)), x, 'maxPoolGrad');
      },
    ),
    { numRuns: RUNS },
  );
});

test('dropout: gradient matches finite differences for any mask', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (N, M, seed) => {
      const x = randn([N, M], seed);
      const mask = randn([N, M], seed + 1).map((v) => (v > 0 ? 2 : 0));
      const t = randn([N, M], seed + 2);
      check(dropoutGrad(t, mask), (xx) => dot(t, dropout(xx, mask)), x, 'dropoutGrad');
    }),
    { numRuns: RUNS },
  );
});

test('softmaxCrossEntropy: dlogits matches finite differences of the mean loss', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 8 }), fc.integer(), (N, K, seed) => {
      const z = randn([N, K], seed);
      const labels = Int32Array.from({ length: N }, (_, i) => Math.abs(seed + 7 * i) % K);
      check(softmaxCrossEntropy(z, labels).dlogits, (zz) => softmaxCrossEntropy(zz, labels).loss, z, 'softmaxCrossEntropy');
    }),
    { numRuns: RUNS },
  );
});

test.run();
