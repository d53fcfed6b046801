/** No reference kernel writes into its inputs. */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Handle } from '../core/backend.ts';
import type { Tensor } from '../core/tensor.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { convCase } from './arbitraries.ts';
import { randn, snapshot, unchanged } from './support.ts';

const be = createReferenceBackend();

/** Runs `call` and checks that none of `inputs` changed. */
const untouched = (what: string, inputs: Tensor[], call: (...hs: Handle[]) => unknown) => {
  const before = inputs.map(snapshot);
  call(...inputs.map((t) => be.upload(t)));
  inputs.forEach((t, i) => assert.ok(unchanged(t, before[i]), `${what} wrote into input ${i}`));
};

test('every reference kernel leaves its inputs as they were', () => {
  fc.assert(
    fc.property(convCase, ({ p, x, w, b, t }) => {
      untouched('conv2d', [x, w, b], (xh, wh, bh) => be.conv2d(xh, wh, bh, p));
      untouched('conv2dGradInput', [t, w], (th, wh) => be.conv2dGradInput(th, wh, x.shape, p));
      untouched('conv2dGradFilter', [x, t], (xh, th) => be.conv2dGradFilter(xh, th, w.shape, p));
      untouched('biasGrad', [t], (th) => be.biasGrad(th));
      untouched('relu', [x], (xh) => be.relu(xh));
      untouched('reluGrad', [x, x], (yh, dh) => be.reluGrad(yh, dh));
      const lp = { k: 2, n: 3, alpha: 0.1, beta: 0.75 };
      untouched('lrn', [x], (xh) => be.lrn(xh, lp));
      untouched('lrnGrad', [x, x], (xh, dh) => be.lrnGrad(xh, dh, lp));
      const pp = { size: 1, stride: 1 };
      untouched('maxPool', [x], (xh) => be.maxPool(xh, pp));
      untouched('maxPoolGrad', [x, x], (xh, dh) => be.maxPoolGrad(xh, dh, pp));
      untouched('add', [x, x], (a, c) => be.add(a, c));
      untouched('concat', [x, x], (a, c) => be.concat([a, c]));
      untouched('slice', [x], (a) => be.slice(a, 0, 1));
      const [N] = x.shape;
      const flat = randn([N, x.size / N], 3);
      const fw = randn([4, x.size / N], 4);
      const fb = randn([4], 5);
      const dy = randn([N, 4], 6);
      untouched('linear', [flat, fw, fb], (a, c, d) => be.linear(a, c, d));
      untouched('linearGradInput', [dy, fw], (a, c) => be.linearGradInput(a, c));
      untouched('linearGradWeight', [flat, dy], (a, c) => be.linearGradWeight(a, c));
      untouched('dropout', [dy, dy], (a, c) => be.dropout(a, c));
      untouched('dropoutGrad', [dy, dy], (a, c) => be.dropoutGrad(a, c));
      untouched('softmaxCrossEntropy', [dy], (a) => be.softmaxCrossEntropy(a, new Int32Array(N)));
      untouched('sgdUpdate', [fb, fb, fb], (a, c, d) => be.sgdUpdate(a, c, d, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }));
    }),
    { numRuns: 20 },
  );
});

test.run();
