/**
 * The fast CPU backend against the reference: every kernel, forward and
 * backward, through the conformance kit (within float32 tolerance, inputs
 * untouched, nothing left alive); its SIMD products; and a whole small
 * network's training step.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dropoutMasks, Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import { readFileSync } from 'node:fs';
import { alexnetMini } from '../core/alexnet.ts';
import { assemble } from '../backends/cpu/build-wasm.ts';
import { createCpuBackend } from '../backends/cpu/index.ts';
import { simdGemmNN, simdGemmNT, simdGemmTN } from '../backends/cpu/simd.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { registerKernelTests, summary } from './conformance.ts';
import { tinySpec } from './nets.ts';
import { randn, right } from './support.ts';

const ref = createReferenceBackend();
const cpu = createCpuBackend();

/**
 * float32 against float64: |a - b| <= atol + rtol |b|, with both growing like
 * the square root of the number of terms summed into each output (rounding
 * errors of a sum of n terms grow like sqrt(n) on average).
 */
const tolerance = (terms: number, scale: number) => ({ rtol: 2e-6 * Math.sqrt(terms), atol: 2e-6 * Math.sqrt(terms) * scale });

const maxAbs = (t: Tensor) => {
  let m = 0;
  for (const v of t.data) m = Math.max(m, Math.abs(v));
  return m;
};
const maxAbsDiff = (a: Tensor, b: Tensor) => {
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
};

const agree = (what: string, a: Tensor, b: Tensor, terms: number, termScale = 0) => {
  let scale = termScale;
  for (const v of b.data) scale = Math.max(scale, Math.abs(v));
  const { rtol, atol } = tolerance(terms, scale);
  assert.equal(a.shape, b.shape, `${what} shape`);
  for (let i = 0; i < a.size; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (!(d <= atol + rtol * Math.abs(b.data[i]))) {
      throw new Error(`${what}: at ${i}, cpu ${a.data[i]} vs reference ${b.data[i]} (|diff| ${d.toExponential(2)} > ${(atol + rtol * Math.abs(b.data[i])).toExponential(2)})`);
    }
  }
};

// Every kernel, forward and backward: the conformance kit's properties (kit/kernels.ts), at
// three times their default case count (the cpu backend is fast).
registerKernelTests(test, 'cpu backend', () => cpu, { spec: 'cpu', scale: 3, report: (r) => console.log(`  [cpu] ${summary(r)}`) });

test('a training step of a small two-tower network matches the reference', () => {
  const spec = tinySpec();
  const params = initParams(spec, 4);
  const x = randn([3, ...spec.input], 4).as('float32');
  const labels = Int32Array.of(0, 1, 4);
  const masks = dropoutMasks(spec, 3, new Rng(4));
  const sgd = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
  const a = right(Network.create(spec, params, [ref, ref]));
  const b = right(Network.create(spec, params, [cpu, cpu]));
  const ra = a.trainStep(x, labels, sgd, { masks });
  const rb = b.trainStep(x, labels, sgd, { masks });
  assert.ok(Math.abs(ra.loss - rb.loss) < 1e-5 * Math.abs(ra.loss), `loss ${rb.loss} vs ${ra.loss}`);
  const pa = a.parameters();
  for (const [name, t] of b.parameters()) agree(name, t, pa.get(name)!, 64);
});

test('the SIMD matrix products equal the plain triple loop for every shape, tiled or ragged', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 21 }), fc.integer({ min: 1, max: 41 }), fc.integer({ min: 1, max: 70 }), fc.integer(), (M, N, K, seed) => {
      const A = randn([M * K], seed).as('float32').data as Float32Array;
      const B = randn([K * N], seed + 1).as('float32').data as Float32Array;
      const C0 = randn([M * N], seed + 2).as('float32').data as Float32Array;
      // Each variant reads its operands in its own layout: A [M,K] or [K,M], B [K,N] or [N,K].
      const at = (X: Float32Array, r: number, c: number, cols: number) => X[r * cols + c];
      const variants = [
        { name: 'NN', f: simdGemmNN, a: (i: number, k: number) => at(A, i, k, K), b: (k: number, j: number) => at(B, k, j, N) },
        { name: 'NT', f: simdGemmNT, a: (i: number, k: number) => at(A, i, k, K), b: (k: number, j: number) => at(B, j, k, K) },
        { name: 'TN', f: simdGemmTN, a: (i: number, k: number) => at(A, k, i, M), b: (k: number, j: number) => at(B, k, j, N) },
      ];
      for (const v of variants) {
        const C = Float32Array.from(C0);
        v.f(M, N, K, A, 0, B, 0, C, 0);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = C0[i * N + j];
            for (let k = 0; k < K; k++) s += v.a(i, k) * v.b(k, j);
            const { rtol, atol } = tolerance(K, 4);
            if (!(Math.abs(C[i * N + j] - s) <= atol + rtol * Math.abs(s))) throw new Error(`${v.name} ${M}x${N}x${K}: C[${i},${j}] = ${C[i * N + j]}, expected ${s}`);
          }
      }
    }),
    { numRuns: 80 },
  );
});

test('the committed WebAssembly module is the one gemm.wat assembles to', async () => {
  const committed = readFileSync(new URL('../backends/cpu/gemm.wasm.ts', import.meta.url), 'utf8');
  assert.is(committed, await assemble(), 'run: npx tsx backends/cpu/build-wasm.ts');
});

test('fully connected layers of fc6\'s kind: step after step, with buffers reused and weights kept in the product\'s memory, every product reads the current weights', () => {
  // 512 x 1024 weights: large enough for the buffer pool and the resident copy
  // (fc6 itself would make the test slow); lr 0.1 so that stale weights would
  // be far outside the tolerance.
  const be = createCpuBackend({ name: 'cpu pooled', threads: 1 });
  const [M, K] = [512, 1024];
  const sgd = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };
  const w0 = randn([M, K], 31, 0.05).as('float32');
  const b0 = randn([M], 32).as('float32');
  let [w, v] = [be.upload(w0), be.upload(w0.map(() => 0))];
  let [rw, rv] = [ref.upload(w0), ref.upload(w0.map(() => 0))];
  const b = be.upload(b0);
  const rb = ref.upload(b0);
  for (let step = 0; step < 4; step++) {
    const N = step % 2 === 0 ? 3 : 9; // both sides of the product's 8-column padding
    const x = randn([N, K], 40 + step).as('float32');
    const dy = randn([N, M], 50 + step).as('float32');
    const [hx, hdy, rx, rdy] = [be.upload(x), be.upload(dy), ref.upload(x), ref.upload(dy)];
    const y = be.linear(hx, w, b);
    agree(`step ${step}: y`, be.download(y), ref.download(ref.linear(rx, rw, rb)), K, 1);
    const dx = be.linearGradInput(hdy, w);
    agree(`step ${step}: dx`, be.download(dx), ref.download(ref.linearGradInput(rdy, rw)), M, 1);
    const g = be.linearGradWeight(hx, hdy);
    const rg = ref.linearGradWeight(rx, rdy);
    const u = be.sgdUpdate(w, v, g, sgd);
    const ru = ref.sgdUpdate(rw, rv, rg, sgd);
    for (const h of [w, v, g, hx, hdy]) be.dispose(h);
    [w, v, rw, rv] = [u.w, u.v, ru.w, ru.v];
  }
  assert.ok(be.reused >= 4, `the pool gave ${be.reused} buffers back`);
  // Weights whose buffer is given to other weights: the second product must read the second values.
  const x = be.upload(randn([2, K], 60).as('float32'));
  const first = be.relu(be.upload(randn([M, K], 61).as('float32')));
  be.linear(x, first, b);
  be.dispose(first);
  const secondValues = randn([M, K], 62).as('float32');
  const second = be.relu(be.upload(secondValues));
  const want = ref.download(ref.linear(ref.upload(randn([2, K], 60)), ref.relu(ref.upload(secondValues)), rb));
  agree('weights in a reused buffer', be.download(be.linear(x, second, b)), want, K, 1);
  // The same for a convolution's filters (kept resident too): 128 x 64 x 6 x 6, a pooled size.
  const cx = randn([1, 64, 8, 8], 63).as('float32');
  const cb = Tensor.zeros([128]);
  const cp = { stride: 1, pad: 0, groups: 1 };
  const f1 = be.relu(be.upload(randn([128, 64, 6, 6], 64).as('float32')));
  be.conv2d(be.upload(cx), f1, be.upload(cb), cp);
  be.dispose(f1);
  const f2Values = randn([128, 64, 6, 6], 65).as('float32');
  const f2 = be.relu(be.upload(f2Values));
  const cwant = ref.download(ref.conv2d(ref.upload(cx), ref.relu(ref.upload(f2Values)), ref.upload(cb), cp));
  agree('filters in a reused buffer', be.download(be.conv2d(be.upload(cx), f2, be.upload(cb), cp)), cwant, 64 * 36, 1);
});

test('alexnet-mini gradients (two towers) match the reference', () => {
  // Weights with std 0.1 rather than the paper's 0.01: with biases of 1 and tiny
  // weights, conv5's outputs all sit within float32 rounding of 1 and which
  // element of a pooling window is the maximum depends on the rounding, so the
  // two backends may route a gradient to different (equally right) pixels.
  const spec = { ...alexnetMini(), initStd: 0.1 };
  const params = initParams(spec, 6);
  const x = randn([4, ...spec.input], 6).as('float32');
  const labels = Int32Array.of(0, 3, 7, 9);
  const masks = dropoutMasks(spec, 4, new Rng(6));
  const a = right(Network.create(spec, params, [ref, ref]));
  const b = right(Network.create(spec, params, [cpu, cpu]));
  const ga = a.gradients(x, labels, { train: true, masks });
  const gb = b.gradients(x, labels, { train: true, masks });
  assert.ok(Math.abs(ga.loss - gb.loss) < 1e-5 * Math.abs(ga.loss), `loss ${gb.loss} vs ${ga.loss}`);
  // Rounding compounds through eight float32 layers: whole-network gradients are
  // compared norm-wise, the largest difference against the largest entry.
  for (const [name, g] of ga.grads) {
    const e = maxAbsDiff(gb.grads.get(name)!, g) / maxAbs(g);
    assert.ok(e < 1e-4, `${name}: max |cpu - reference| / max |reference| = ${e.toExponential(2)}`);
  }
});

test.run();
