/**
 * Every gpu.js kernel, forward and backward, against the reference kernel, on
 * shapes, strides, paddings, groups, windows and values drawn by fast-check,
 * in each gpu.js mode (headless GL and webasm; see gl.ts).
 *
 * Each case also checks what the kernel must not do:
 * - write into its inputs (the inputs are read back afterwards, bit for bit);
 * - let a later call overwrite an earlier result (each case runs the kernel a
 *   second time on other values, then reads the first result);
 * - leak (the handle count is back where it was once the case's handles are
 *   disposed).
 *
 * Tolerances come from tolerance.ts: the reduction length of each kernel and
 * the size of its terms, nothing tuned here.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, ConvParams, Handle, LrnParams, PoolParams } from '../core/backend.ts';
import { outSize } from '../core/backend.ts';
import { Rng } from '../core/rng.ts';
import { type Shape, sizeOf, Tensor } from '../core/tensor.ts';
import { createReferenceBackend } from '../reference/index.ts';
import type { ConvolutionMethod, GpuBackend, GpuMode } from '../backends/gpujs/index.ts';
import { gpuBackend, gpuTest, planFor, PROPERTY_MODES, report } from './gl.ts';
import { compare, maxAbsOf, reductionTolerance, type Tolerance } from './tolerance.ts';

const ref = createReferenceBackend('reference');

// ---- values ---------------------------------------------------------------------

/** float32 values from N(0, scale^2); with `ties`, rounded to a coarse grid so equal values are common. */
const values = (shape: Shape, seed: number, scale = 1, ties = false): Tensor => {
  const rng = new Rng(seed);
  const d = new Float32Array(sizeOf(shape));
  for (let i = 0; i < d.length; i++) d[i] = ties ? Math.round(rng.normal() * 2) * scale : rng.normal(0, scale);
  return Tensor.trusted(shape, d);
};
const abs = (t: Tensor): Tensor => t.map(Math.abs);
const f64 = (t: Tensor): Tensor => t.as('float64');

// ---- one checked case ---------------------------------------------------------------------

interface Outcome { readonly name: string; readonly maxRel: number; readonly rtol: number; readonly ratio: number }

/** The worst case seen per kernel, for the summary line. */
const worst = new Map<string, Outcome>();
const record = (o: Outcome) => {
  const w = worst.get(o.name);
  if (!w || o.ratio > w.ratio) worst.set(o.name, o);
};

interface Check {
  readonly name: string;
  /** float32 inputs. */
  readonly inputs: readonly Tensor[];
  /** The kernel call, on any backend. Returns the outputs to compare. */
  readonly call: (b: Backend, hs: readonly Handle[]) => readonly Handle[];
  /** Tolerance per output, given the reference outputs. */
  readonly tolerance: (refOut: readonly Tensor[]) => readonly Tolerance[];
}

const sameBits = (a: Tensor, b: Tensor): boolean => a.data.every((v, i) => Object.is(v, b.data[i]));

/**
 * Runs a check on `gpu`: compares with the reference, checks that inputs are
 * untouched and that a second call with other values does not disturb the
 * first result, and that nothing leaks. Throws with the details on failure.
 * `lean` (for very large cases) keeps only the comparison and the leak check.
 */
const run = (gpu: GpuBackend, c: Check, lean = false): void => {
  const live0 = gpu.liveCount();
  const hs = c.inputs.map((t) => gpu.upload(t));
  const out = c.call(gpu, hs).map((h) => h);
  // Second call on other values (each input scaled by -0.5, exact in float32).
  const hs2 = lean ? [] : c.inputs.map((t) => gpu.upload(t.map((v) => -0.5 * v)));
  const out2 = lean ? [] : c.call(gpu, hs2);
  const got = out.map((h) => gpu.download(h));
  if (!lean) {
    c.inputs.forEach((t, i) => {
      if (!sameBits(gpu.download(hs[i]), t)) throw new Error(`${c.name} wrote into its input ${i}`);
    });
  }
  for (const h of [...hs, ...out, ...hs2, ...out2]) gpu.dispose(h);
  if (gpu.liveCount() !== live0) throw new Error(`${c.name} left ${gpu.liveCount() - live0} handles alive`);

  const want = c.call(ref, c.inputs.map((t) => ref.upload(lean ? t : f64(t)))).map((h) => ref.download(h));
  const tols = c.tolerance(want);
  got.forEach((g, i) => {
    if (g.shape.join() !== want[i].shape.join()) throw new Error(`${c.name} output ${i}: shape [${g.shape}] but the reference gives [${want[i].shape}]`);
    const r = compare(g.data, want[i].data, tols[i]);
    record({ name: c.name, maxRel: r.maxRel, rtol: tols[i].rtol, ratio: r.worstRatio });
    if (!r.ok) {
      throw new Error(`${c.name} output ${i} ${JSON.stringify(g.shape)}: at flat index ${r.worstAt} gpu.js gives ${g.data[r.worstAt]}, the reference ${want[i].data[r.worstAt]}; |a - b| = ${r.maxAbs.toExponential(3)} exceeds atol ${tols[i].atol.toExponential(3)} + rtol ${tols[i].rtol.toExponential(3)} * |b| (${r.worstRatio.toFixed(2)}x the tolerance)`);
    }
  });
};

/** The reference run on |inputs| (for a kernel linear in each input, its largest sum of |terms|). */
const absScale = (call: Check['call'], inputs: readonly Tensor[], which: readonly boolean[] = inputs.map(() => true)): number =>
  Math.max(...call(ref, inputs.map((t, i) => ref.upload(which[i] ? abs(f64(t)) : f64(t)))).map((h) => maxAbsOf(ref.download(h))));

// ---- arbitraries -----------------------------------------------------------------------

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const scale = fc.constantFrom(1e-3, 1, 30);

const convArb = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    Cg: fc.integer({ min: 1, max: 4 }),
    Fg: fc.integer({ min: 1, max: 3 }),
    K: fc.integer({ min: 1, max: 5 }),
    stride: fc.integer({ min: 1, max: 4 }),
    pad: fc.integer({ min: 0, max: 2 }),
    extraH: fc.integer({ min: 0, max: 7 }),
    extraW: fc.integer({ min: 0, max: 7 }),
    seed,
    scale,
  })
  .map((c) => {
    const H = Math.max(1, c.K - 2 * c.pad) + c.extraH;
    const W = Math.max(1, c.K - 2 * c.pad) + c.extraW;
    const p: ConvParams = { stride: c.stride, pad: c.pad, groups: c.groups };
    const C = c.Cg * c.groups;
    const F = c.Fg * c.groups;
    const OH = outSize(H, c.K, c.stride, c.pad);
    const OW = outSize(W, c.K, c.stride, c.pad);
    return {
      ...c, p, C, F, OH, OW,
      x: values([c.N, C, H, W], c.seed, c.scale),
      w: values([F, c.Cg, c.K, c.K], c.seed + 1),
      b: values([F], c.seed + 2, c.scale),
      dy: values([c.N, F, OH, OW], c.seed + 3, c.scale),
    };
  });

const mapArb = fc
  .record({
    N: fc.integer({ min: 1, max: 3 }),
    C: fc.integer({ min: 1, max: 9 }),
    H: fc.integer({ min: 1, max: 9 }),
    W: fc.integer({ min: 1, max: 9 }),
    flat: fc.boolean(),
    seed,
    scale,
    ties: fc.boolean(),
  })
  .map((c) => ({ ...c, shape: c.flat ? [c.N, c.C * c.H] : [c.N, c.C, c.H, c.W] }));

// Half the cases have K and M multiples of 4, the rows the GL backend reads four values a texel
// (and, from a batch of 4, computes linear as a tiled product).
const linearArb = fc.record({
  N: fc.integer({ min: 1, max: 6 }),
  K: fc.integer({ min: 1, max: 60 }),
  M: fc.integer({ min: 1, max: 24 }),
  byFour: fc.boolean(),
  seed,
  scale,
}).map((c) => (c.byFour ? { ...c, K: 4 * Math.ceil(c.K / 4), M: 4 * Math.ceil(c.M / 4) } : c));

const lrnArb = fc.record({
  shape: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  n: fc.integer({ min: 1, max: 7 }),
  k: fc.double({ min: 0.5, max: 3, noNaN: true }),
  alpha: fc.double({ min: 1e-4, max: 1, noNaN: true }),
  beta: fc.double({ min: 0.25, max: 1.5, noNaN: true }),
  seed,
});

const poolArb = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    C: fc.integer({ min: 1, max: 4 }),
    size: fc.integer({ min: 1, max: 4 }),
    stride: fc.integer({ min: 1, max: 4 }),
    extraH: fc.integer({ min: 0, max: 8 }),
    extraW: fc.integer({ min: 0, max: 8 }),
    seed,
    ties: fc.boolean(),
  })
  .map((c) => {
    const p: PoolParams = { size: c.size, stride: c.stride };
    const shape = [c.N, c.C, c.size + c.extraH, c.size + c.extraW];
    const yShape = [c.N, c.C, outSize(shape[2], c.size, c.stride, 0), outSize(shape[3], c.size, c.stride, 0)];
    return { ...c, p, x: values(shape, c.seed, 1, c.ties), dy: values(yShape, c.seed + 1) };
  });

// ---- the checks, one per kernel ------------------------------------------------------------

interface KernelProperty {
  readonly name: string;
  readonly runs: number;
  /** Asserts the property on `gpu` for `runs` generated cases. */
  readonly exec: (gpu: GpuBackend) => void;
}

const property = <T>(name: string, arb: fc.Arbitrary<T>, runs: number, checks: (c: T) => Check[]): KernelProperty => ({
  name,
  runs,
  exec: (gpu) => fc.assert(fc.property(arb, (c) => { for (const ch of checks(c)) run(gpu, ch); }), { numRuns: runs, includeErrorInReport: true }),
});

const PROPERTIES: KernelProperty[] = [
  property('conv2d', convArb, 16, (c) => {
    const call: Check['call'] = (b, [x, w, bias]) => [b.conv2d(x, w, bias, c.p)];
    return [{
      name: 'conv2d', inputs: [c.x, c.w, c.b], call,
      tolerance: () => [reductionTolerance(c.Cg * c.K * c.K + 1, absScale(call, [c.x, c.w, c.b]))],
    }];
  }),
  property('conv2dGradInput', convArb, 16, (c) => {
    const call: Check['call'] = (b, [dy, w]) => [b.conv2dGradInput(dy, w, c.x.shape, c.p)];
    return [{
      name: 'conv2dGradInput', inputs: [c.dy, c.w], call,
      tolerance: () => [reductionTolerance(c.Fg * Math.ceil(c.K / c.p.stride) ** 2, absScale(call, [c.dy, c.w]))],
    }];
  }),
  property('conv2dGradFilter', convArb, 16, (c) => {
    const call: Check['call'] = (b, [x, dy]) => [b.conv2dGradFilter(x, dy, c.w.shape, c.p)];
    return [{
      name: 'conv2dGradFilter', inputs: [c.x, c.dy], call,
      tolerance: () => [reductionTolerance(c.N * c.OH * c.OW, absScale(call, [c.x, c.dy]))],
    }];
  }),
  property('biasGrad', mapArb, 12, (c) => {
    const call: Check['call'] = (b, [dy]) => [b.biasGrad(dy)];
    const dy = values(c.shape, c.seed, c.scale);
    return [{ name: 'biasGrad', inputs: [dy], call, tolerance: () => [reductionTolerance(dy.size / dy.shape[1], absScale(call, [dy]))] }];
  }),
  property('linear, linearGradInput, linearGradWeight', linearArb, 24, (c) => {
    const x = values([c.N, c.K], c.seed, c.scale);
    const w = values([c.M, c.K], c.seed + 1);
    const b = values([c.M], c.seed + 2, c.scale);
    const dy = values([c.N, c.M], c.seed + 3, c.scale);
    const fwd: Check['call'] = (be, [xh, wh, bh]) => [be.linear(xh, wh, bh)];
    const gin: Check['call'] = (be, [dyh, wh]) => [be.linearGradInput(dyh, wh)];
    const gw: Check['call'] = (be, [xh, dyh]) => [be.linearGradWeight(xh, dyh)];
    return [
      { name: 'linear', inputs: [x, w, b], call: fwd, tolerance: () => [reductionTolerance(c.K + 1, absScale(fwd, [x, w, b]))] },
      { name: 'linearGradInput', inputs: [dy, w], call: gin, tolerance: () => [reductionTolerance(c.M, absScale(gin, [dy, w]))] },
      { name: 'linearGradWeight', inputs: [x, dy], call: gw, tolerance: () => [reductionTolerance(c.N, absScale(gw, [x, dy]))] },
    ];
  }),
  property('relu, reluGrad, dropout, dropoutGrad, add', mapArb, 12, (c) => {
    const x = values(c.shape, c.seed, c.scale, c.ties);
    const dy = values(c.shape, c.seed + 1, c.scale);
    const y = x.map((v) => (v > 0 ? v : 0));
    const rng = new Rng(c.seed + 2);
    const mask = x.map(() => (rng.bernoulli(0.5) ? 2 : 0));
    const exact = (out: readonly Tensor[]) => out.map((t) => reductionTolerance(1, maxAbsOf(t)));
    return [
      { name: 'relu', inputs: [x], call: (b, [h]) => [b.relu(h)], tolerance: exact },
      { name: 'reluGrad', inputs: [y, dy], call: (b, [yh, dh]) => [b.reluGrad(yh, dh)], tolerance: exact },
      { name: 'dropout', inputs: [x, mask], call: (b, [h, m]) => [b.dropout(h, m)], tolerance: exact },
      { name: 'dropoutGrad', inputs: [dy, mask], call: (b, [h, m]) => [b.dropoutGrad(h, m)], tolerance: exact },
      { name: 'add', inputs: [x, dy], call: (b, [p, q]) => [b.add(p, q)], tolerance: () => [reductionTolerance(2, maxAbsOf(x) + maxAbsOf(dy))] },
    ];
  }),
  property('concat, slice, reshape, upload/download', fc.tuple(mapArb, fc.integer({ min: 1, max: 3 }), fc.nat()), 12, ([c, parts, at]) => {
    const xs = Array.from({ length: parts }, (_, i) => values([c.N, c.C + i, ...c.shape.slice(2)], c.seed + i, c.scale));
    const x = xs[0];
    const start = at % x.shape[1];
    const count = 1 + (at % (x.shape[1] - start));
    const exact = (out: readonly Tensor[]) => out.map((t) => reductionTolerance(1, maxAbsOf(t)));
    return [
      { name: 'concat', inputs: xs, call: (b, hs) => [b.concat(hs)], tolerance: exact },
      { name: 'slice', inputs: [x], call: (b, [h]) => [b.slice(h, start, count)], tolerance: exact },
      { name: 'reshape', inputs: [x], call: (b, [h]) => [b.reshape(h, [x.size])], tolerance: exact },
      { name: 'upload/download', inputs: [x], call: (_b, [h]) => [_b.reshape(h, x.shape)], tolerance: exact },
    ];
  }),
  property('lrn, lrnGrad', lrnArb, 16, (c) => {
    const p: LrnParams = { k: c.k, n: c.n, alpha: c.alpha, beta: c.beta };
    const x = values(c.shape, c.seed);
    const dy = values(c.shape, c.seed + 1);
    const span = 2 * Math.floor(c.n / 2) + 1;
    return [
      {
        name: 'lrn', inputs: [x], call: (b, [h]) => [b.lrn(h, p)],
        tolerance: (out) => [reductionTolerance(span, maxAbsOf(out[0]), 1)],
      },
      {
        name: 'lrnGrad', inputs: [x, dy], call: (b, [h, d]) => [b.lrnGrad(h, d, p)],
        tolerance: () => [reductionTolerance(span * span, lrnGradScale(x, dy, p), 2)],
      },
    ];
  }),
  property('maxPool, maxPoolGrad', poolArb, 16, (c) => {
    const grad: Check['call'] = (b, [x, dy]) => [b.maxPoolGrad(x, dy, c.p)];
    return [
      { name: 'maxPool', inputs: [c.x], call: (b, [h]) => [b.maxPool(h, c.p)], tolerance: (out) => [reductionTolerance(1, maxAbsOf(out[0]))] },
      {
        name: 'maxPoolGrad', inputs: [c.x, c.dy], call: grad,
        tolerance: () => [reductionTolerance(Math.ceil(c.size / c.stride) ** 2, absScale(grad, [c.x, c.dy], [false, true]))],
      },
    ];
  }),
  property('softmaxCrossEntropy', fc.record({ N: fc.integer({ min: 1, max: 4 }), K: fc.integer({ min: 2, max: 40 }), seed, big: fc.boolean() }), 16, (c) => {
    const z = values([c.N, c.K], c.seed, c.big ? 30 : 2);
    const labels = Int32Array.from({ length: c.N }, (_, n) => (c.seed + 7 * n) % c.K);
    // The loss comes back as a number: compare it as a one-element tensor.
    const lossOf = (b: Backend, h: Handle): Handle[] => {
      const r = b.softmaxCrossEntropy(h, labels);
      return [r.probs, r.dlogits, b.upload(Tensor.trusted([1], new Float64Array([r.loss])))];
    };
    return [{
      name: 'softmaxCrossEntropy', inputs: [z], call: (b, [h]) => lossOf(b, h),
      tolerance: (out) => [
        reductionTolerance(c.K, 1, 2),
        reductionTolerance(c.K, 1 / c.N, 2),
        reductionTolerance(c.K, 2 * maxAbsOf(z) + Math.log(c.K), 2),
      ].map((t, i) => (i < 2 ? t : { ...t, atol: t.atol + t.rtol * maxAbsOf(out[2]) })),
    }];
  }),
  property('sgdUpdate', fc.record({ n: fc.integer({ min: 1, max: 300 }), seed, lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }), momentum: fc.double({ min: 0, max: 0.99, noNaN: true }), weightDecay: fc.double({ min: 0, max: 0.01, noNaN: true }) }), 12, (c) => {
    const w = values([c.n], c.seed);
    const v = values([c.n], c.seed + 1, 0.1);
    const g = values([c.n], c.seed + 2);
    const sgd = { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay };
    const vTerms = c.momentum * maxAbsOf(v) + c.weightDecay * c.lr * maxAbsOf(w) + c.lr * maxAbsOf(g);
    return [{
      name: 'sgdUpdate', inputs: [w, v, g],
      call: (b, [wh, vh, gh]) => { const r = b.sgdUpdate(wh, vh, gh, sgd); return [r.w, r.v]; },
      tolerance: () => [reductionTolerance(4, maxAbsOf(w) + vTerms), reductionTolerance(3, vTerms)],
    }];
  }),
];

/**
 * The largest sum of |terms| of lrnGrad:
 * |dy[m]| s[m]^-beta + 2 alpha beta |a[m]| sum_i |dy[i] a[i]| s[i]^(-beta - 1).
 */
const lrnGradScale = (x: Tensor, dy: Tensor, p: LrnParams): number => {
  const [N, C] = x.shape;
  const inner = x.size / (N * C);
  const half = Math.floor(p.n / 2);
  let worst = 0;
  for (let n = 0; n < N; n++)
    for (let q = 0; q < inner; q++) {
      const at = (c: number) => (n * C + c) * inner + q;
      const s = Array.from({ length: C }, (_, i) => {
        let sum = 0;
        for (let j = Math.max(0, i - half); j <= Math.min(C - 1, i + half); j++) sum += x.data[at(j)] ** 2;
        return p.k + p.alpha * sum;
      });
      for (let m = 0; m < C; m++) {
        let cross = 0;
        for (let i = Math.max(0, m - half); i <= Math.min(C - 1, m + half); i++) cross += Math.abs(dy.data[at(i)] * x.data[at(i)]) * s[i] ** (-p.beta - 1);
        worst = Math.max(worst, Math.abs(dy.data[at(m)]) * s[m] ** -p.beta + 2 * p.alpha * p.beta * Math.abs(x.data[at(m)]) * cross);
      }
    }
  return worst;
};

// ---- registration ------------------------------------------------------------------------------

const S = suite('gpu.js kernels agree with the reference');
const backends = new Map<string, GpuBackend>();
/** GL convolves as matrix products unless told 'direct' (see lowering.ts); both are checked. */
const backendFor = (mode: GpuMode, convolution: ConvolutionMethod = 'lowered'): GpuBackend => {
  const key = `${mode} ${convolution}`;
  let b = backends.get(key);
  if (!b) {
    b = gpuBackend(mode, `gpu.js ${mode} (kernel properties, ${convolution} convolution)`, convolution);
    backends.set(key, b);
  }
  return b;
};

for (const mode of PROPERTY_MODES) {
  const plan = planFor(mode);
  for (const prop of PROPERTIES) {
    gpuTest(S, plan, prop.name, () => {
      const gpu = backendFor(mode);
      worst.clear();
      prop.exec(gpu);
      for (const [n, w] of worst) {
        report(gpu.mode, `${n}: ${prop.runs} cases, worst relative error ${w.maxRel.toExponential(2)} (rtol there ${w.rtol.toExponential(2)}, ${(100 * w.ratio).toFixed(1)}% of the tolerance)`);
      }
    });
  }
}

// The direct convolution kernels, which GL uses when the lowered matrices would be too large.
if (PROPERTY_MODES.includes('headlessgl')) {
  for (const prop of PROPERTIES.filter((p) => p.name.startsWith('conv2d'))) {
    gpuTest(S, planFor('headlessgl'), `${prop.name}, direct convolution`, () => {
      const gpu = backendFor('headlessgl', 'direct');
      worst.clear();
      prop.exec(gpu);
      for (const [n, w] of worst) {
        report(gpu.mode, `${n} (direct): ${prop.runs} cases, worst relative error ${w.maxRel.toExponential(2)} (rtol there ${w.rtol.toExponential(2)}, ${(100 * w.ratio).toFixed(1)}% of the tolerance)`);
      }
    });
  }
}

// fc6's weights have 2048 x 9216 entries per tower, past 2^24, where a float32
// index stops counting every integer. One fixed case of that size for the
// kernels that index a whole weight matrix (small random shapes never get there):
// rows of odd length, and rows of a multiple of 4, which GL reads four values a texel.
for (const BIG of [{ N: 2, M: 2049, K: 8193 }, { N: 2, M: 2052, K: 8196 }])
for (const mode of PROPERTY_MODES) {
  gpuTest(S, planFor(mode), `linear kernels and sgdUpdate on a ${BIG.M}x${BIG.K} matrix (indices past 2^24)`, () => {
    const gpu = backendFor(mode);
    assert.ok(BIG.M * BIG.K > 2 ** 24);
    const x = values([BIG.N, BIG.K], 1);
    const w = values([BIG.M, BIG.K], 2);
    const b = values([BIG.M], 3);
    const dy = values([BIG.N, BIG.M], 4);
    const v = values([BIG.M, BIG.K], 5, 0.1);
    const sgd = { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 };
    const fwd: Check['call'] = (be, [xh, wh, bh]) => [be.linear(xh, wh, bh)];
    const gin: Check['call'] = (be, [dyh, wh]) => [be.linearGradInput(dyh, wh)];
    const gw: Check['call'] = (be, [xh, dyh]) => [be.linearGradWeight(xh, dyh)];
    worst.clear();
    run(gpu, { name: 'linear', inputs: [x, w, b], call: fwd, tolerance: () => [reductionTolerance(BIG.K + 1, absScale(fwd, [x, w, b]))] }, true);
    run(gpu, { name: 'linearGradInput', inputs: [dy, w], call: gin, tolerance: () => [reductionTolerance(BIG.M, absScale(gin, [dy, w]))] }, true);
    run(gpu, { name: 'linearGradWeight', inputs: [x, dy], call: gw, tolerance: () => [reductionTolerance(BIG.N, absScale(gw, [x, dy]))] }, true);
    const mw = maxAbsOf(w);
    const vTerms = sgd.momentum * maxAbsOf(v) + sgd.weightDecay * sgd.lr * mw + sgd.lr * mw;
    run(gpu, {
      name: 'sgdUpdate', inputs: [w, v, w],
      call: (be, [wh, vh, gh]) => { const r = be.sgdUpdate(wh, vh, gh, sgd); return [r.w, r.v]; },
      tolerance: () => [reductionTolerance(4, mw + vTerms), reductionTolerance(3, vTerms)],
    }, true);
    for (const [n, o] of worst) report(gpu.mode, `${n} at ${BIG.M}x${BIG.K}: worst relative error ${o.maxRel.toExponential(2)} (${(100 * o.ratio).toFixed(1)}% of the tolerance)`);
  });
}

S.after(() => {
  for (const b of backends.values()) b.destroy();
});

S.run();
