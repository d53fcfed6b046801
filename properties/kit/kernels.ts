/**
 * Every kernel of the contract (core/backend.ts) as one property, defined once:
 * what cases to draw, how to call the kernel on any backend, and the float32
 * tolerance of each output from the rounding model (tolerance.ts). The test
 * files, `alexnet verify` and anyone's own backend all run these same
 * definitions through run.ts.
 *
 * Cases are plain records of parameters (shapes, strides, paddings, groups,
 * windows, and the kind, scale and seed of the values), so that fast-check
 * shrinks them to the smallest shapes that still fail and a counterexample
 * reads as parameters, not as arrays. The shapes reach the edges: 1x1 maps, a
 * window as large as its input, a stride larger than the kernel, one channel
 * per group, an LRN window wider than the channels; the values are those of
 * values.ts (ties, zeros, large, tiny).
 */
import fc from 'fast-check';
import type { Backend, ConvParams, Handle, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import { Rng } from '../../core/rng.ts';
import { type Shape, Tensor } from '../../core/tensor.ts';
import { maxAbsOf, powRtol, reductionTolerance, type Tolerance, widen } from './tolerance.ts';
import { DECIDING_KINDS, draw, type Values, valuesArb, weights } from './values.ts';

/** The kernels of the contract, one row each in a verification. */
export const KERNELS = [
  'upload/download', 'reshape', 'concat', 'slice', 'add',
  'conv2d', 'conv2dGradInput', 'conv2dGradFilter', 'biasGrad',
  'linear', 'linearGradInput', 'linearGradWeight',
  'relu', 'reluGrad', 'lrn', 'lrnGrad', 'maxPool', 'maxPoolGrad',
  'dropout', 'dropoutGrad', 'softmaxCrossEntropy', 'sgdUpdate',
] as const;
export type KernelName = (typeof KERNELS)[number];

/** What every backend must have before any kernel can be checked. */
export const BASICS = ['upload', 'download', 'dispose', 'liveCount'] as const;

/** One kernel call on concrete inputs. */
export interface Check {
  /** float32 inputs; the oracle gets the same numbers as float64. */
  readonly inputs: readonly Tensor[];
  /** The call on any backend; numbers (the loss) are outputs of one element. */
  readonly call: (b: Backend, hs: readonly Handle[]) => readonly (Handle | number)[];
  /**
   * Tolerance per output, from the oracle's outputs and `absScale`: the oracle
   * run on |inputs| (those flagged), the largest sum of |terms| of a kernel
   * linear in those inputs.
   */
  readonly tolerance: (want: readonly Tensor[], absScale: (which?: readonly boolean[]) => number) => readonly Tolerance[];
  /** The edge of the numbers this case draws, named in a failure. */
  readonly edge: string;
}

export interface FixedCase<C> {
  readonly label: string;
  readonly params: C;
  /** Skip the input and second-call checks (cases too large to keep twice). */
  readonly lean: boolean;
}

export interface KernelProperty<C = unknown> {
  readonly kernel: KernelName;
  /** The backend methods the check calls besides the basics (a backend lacking one: 'missing'). */
  readonly methods: readonly (keyof Backend)[];
  /** What the kernel computes, in one line. */
  readonly computes: string;
  /** Cases drawn by default. */
  readonly cases: number;
  readonly arbitrary: fc.Arbitrary<C>;
  readonly check: (c: C) => Check;
  /** Cases run before the drawn ones, every time. */
  readonly fixed?: readonly FixedCase<C>[];
}

const property = <C>(p: KernelProperty<C>): KernelProperty => p as unknown as KernelProperty;

// ---- the cases -----------------------------------------------------------------------

export interface ConvCase {
  readonly N: number; readonly groups: number; readonly Cg: number; readonly Fg: number;
  readonly K: number; readonly stride: number; readonly pad: number;
  readonly extraH: number; readonly extraW: number;
  readonly values: Values;
}

const convArb: fc.Arbitrary<ConvCase> = fc.record({
  // Up to 3: a batch that does not split evenly between two threads.
  N: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 3 }),
  Cg: fc.integer({ min: 1, max: 4 }),
  Fg: fc.integer({ min: 1, max: 3 }),
  K: fc.integer({ min: 1, max: 5 }),
  stride: fc.integer({ min: 1, max: 4 }),
  pad: fc.integer({ min: 0, max: 2 }),
  // 0: the (padded) input is exactly one window.
  extraH: fc.integer({ min: 0, max: 7 }),
  extraW: fc.integer({ min: 0, max: 7 }),
  values: valuesArb(),
});

/**
 * A convolution of AlexNet's kind that drawn cases are too small to reach:
 * groups of 8 filters over 12x12 maps, big enough for the blocked and SIMD
 * matrix products that real layers run (small ones take a simpler path), and
 * a batch of 3 that splits unevenly between threads.
 */
const CONV_FIXED: readonly FixedCase<ConvCase>[] = [
  { label: 'groups of 8 filters on 12x12 maps, batch 3 (the blocked products)', params: { N: 3, groups: 2, Cg: 6, Fg: 8, K: 3, stride: 1, pad: 1, extraH: 11, extraW: 10, values: { kind: 'normal', scale: 1, seed: 4 } }, lean: false },
];

/** The shapes and tensors of a convolution case. */
export const convTensors = (c: ConvCase) => {
  const H = Math.max(1, c.K - 2 * c.pad) + c.extraH;
  const W = Math.max(1, c.K - 2 * c.pad) + c.extraW;
  const p: ConvParams = { stride: c.stride, pad: c.pad, groups: c.groups };
  const C = c.Cg * c.groups;
  const F = c.Fg * c.groups;
  const OH = outSize(H, c.K, c.stride, c.pad);
  const OW = outSize(W, c.K, c.stride, c.pad);
  return {
    p, OH, OW,
    x: draw([c.N, C, H, W], c.values, 0),
    w: weights([F, c.Cg, c.K, c.K], c.values, 1),
    b: draw([F], c.values, 2),
    dy: draw([c.N, F, OH, OW], c.values, 3),
  };
};

export interface MapCase {
  readonly N: number; readonly C: number; readonly H: number; readonly W: number;
  /** A [N, C*H] matrix (the fully connected layers' activations) instead of maps. */
  readonly flat: boolean;
  readonly values: Values;
}

const mapArbOf = (kinds?: Parameters<typeof valuesArb>[0]): fc.Arbitrary<MapCase> => fc.record({
  N: fc.integer({ min: 1, max: 3 }),
  C: fc.integer({ min: 1, max: 9 }),
  H: fc.integer({ min: 1, max: 9 }),
  W: fc.integer({ min: 1, max: 9 }),
  flat: fc.boolean(),
  values: valuesArb(kinds),
});
const mapArb = mapArbOf();
/** For reluGrad, whose result turns on the sign of its input (see DECIDING_KINDS). */
const decidingMapArb = mapArbOf(DECIDING_KINDS);
/**
 * Maps of 131,072 values: past the sizes where a backend starts splitting an
 * elementwise kernel between threads (drawn maps hold a few thousand at most).
 */
const MAP_FIXED: readonly FixedCase<MapCase>[] = [
  { label: '2x64x32x32 maps (large enough to split between threads)', params: { N: 2, C: 64, H: 32, W: 32, flat: false, values: { kind: 'ties', scale: 1, seed: 5 } }, lean: false },
];
const mapShape = (c: MapCase): Shape => (c.flat ? [c.N, c.C * c.H] : [c.N, c.C, c.H, c.W]);

export interface DropoutCase extends MapCase {
  /** The drop probability; kept units are scaled by 1 / (1 - p). */
  readonly p: number;
}
const dropoutArb: fc.Arbitrary<DropoutCase> = fc.tuple(mapArb, fc.constantFrom(0.5, 0.2, 0.75, 0.9)).map(([m, p]) => ({ ...m, p }));
const DROPOUT_FIXED: readonly FixedCase<DropoutCase>[] = MAP_FIXED.map((f) => ({ ...f, params: { ...f.params, p: 0.2 } }));
/** A mask of 0 for a dropped unit and 1 / (1 - p) for a kept one, as the executor draws them. */
const maskFor = (x: Tensor, c: DropoutCase): Tensor => {
  const rng = new Rng(c.values.seed + 2);
  return x.map(() => (rng.bernoulli(c.p) ? 0 : 1 / (1 - c.p)));
};

export interface PlumbingCase extends MapCase {
  /** How many tensors concat joins. */
  readonly parts: number;
  /** Picks the slice's start and length. */
  readonly at: number;
}
const plumbingArb: fc.Arbitrary<PlumbingCase> = fc
  .tuple(mapArb, fc.integer({ min: 1, max: 3 }), fc.nat())
  .map(([m, parts, at]) => ({ ...m, parts, at }));

export interface LinearCase { readonly N: number; readonly K: number; readonly M: number; readonly values: Values }

// Half the cases have K and M multiples of 4, the rows a GL backend reads four
// values a texel (and, from a batch of 4, computes as a tiled product).
const linearArb: fc.Arbitrary<LinearCase> = fc
  .record({
    N: fc.integer({ min: 1, max: 6 }),
    K: fc.integer({ min: 1, max: 60 }),
    M: fc.integer({ min: 1, max: 24 }),
    byFour: fc.boolean(),
    values: valuesArb(),
  })
  .map(({ byFour, ...c }) => (byFour ? { ...c, K: 4 * Math.ceil(c.K / 4), M: 4 * Math.ceil(c.M / 4) } : c));

/**
 * fc6's weights have 2048 x 9216 entries per tower, past 2^24, where a float32
 * index stops counting every integer. Small random shapes never get there, so
 * the kernels that index a whole weight matrix also run one case of that size
 * with rows of odd length, and one with rows of a multiple of 4.
 */
const BIG_LINEAR: readonly FixedCase<LinearCase>[] = [
  { label: '2049x8193 weights (indices past 2^24)', params: { N: 2, M: 2049, K: 8193, values: { kind: 'normal', scale: 1, seed: 1 } }, lean: true },
  { label: '2052x8196 weights (indices past 2^24)', params: { N: 2, M: 2052, K: 8196, values: { kind: 'normal', scale: 1, seed: 2 } }, lean: true },
];

const linearTensors = (c: LinearCase) => ({
  x: draw([c.N, c.K], c.values, 0),
  w: weights([c.M, c.K], c.values, 1),
  b: draw([c.M], c.values, 2),
  dy: draw([c.N, c.M], c.values, 3),
});

export interface LrnCase {
  readonly shape: readonly [number, number, number, number];
  readonly n: number; readonly k: number; readonly alpha: number; readonly beta: number;
  readonly values: Values;
}
const lrnArb: fc.Arbitrary<LrnCase> = fc.record({
  shape: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  // Up to 7: wider than the channels when C is small.
  n: fc.oneof(fc.constant(5), fc.integer({ min: 1, max: 7 })),
  // The paper's constants exactly, half the time (a backend may special-case beta = 0.75).
  k: fc.oneof(fc.constant(2), fc.double({ min: 0.5, max: 3, noNaN: true })),
  alpha: fc.oneof(fc.constant(1e-4), fc.double({ min: 1e-4, max: 1, noNaN: true })),
  beta: fc.oneof(fc.constant(0.75), fc.double({ min: 0.25, max: 1.5, noNaN: true })),
  values: valuesArb(),
});

const LRN_FIXED: readonly FixedCase<LrnCase>[] = [
  { label: '2x48x27x27 maps with the paper\'s constants (conv1\'s tower, large enough to split between threads)', params: { shape: [2, 48, 27, 27], n: 5, k: 2, alpha: 1e-4, beta: 0.75, values: { kind: 'normal', scale: 30, seed: 6 } }, lean: false },
];

export interface PoolCase {
  readonly N: number; readonly C: number; readonly size: number; readonly stride: number;
  readonly extraH: number; readonly extraW: number;
  readonly values: Values;
}
const poolArb: fc.Arbitrary<PoolCase> = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  C: fc.integer({ min: 1, max: 4 }),
  size: fc.integer({ min: 1, max: 4 }),
  // Up to 4: larger than the window when it is small.
  stride: fc.integer({ min: 1, max: 4 }),
  // 0: the window is as large as its input.
  extraH: fc.integer({ min: 0, max: 8 }),
  extraW: fc.integer({ min: 0, max: 8 }),
  // No subnormals: which value of a window is the largest must not turn on them (see DECIDING_KINDS).
  values: valuesArb(DECIDING_KINDS),
});
const POOL_FIXED: readonly FixedCase<PoolCase>[] = [
  { label: '2x64x27x27 maps, 3x3 windows every 2 (the paper\'s pooling, large enough to split between threads)', params: { N: 2, C: 64, size: 3, stride: 2, extraH: 24, extraW: 24, values: { kind: 'ties', scale: 1, seed: 7 } }, lean: false },
];
const poolTensors = (c: PoolCase) => {
  const p: PoolParams = { size: c.size, stride: c.stride };
  const shape = [c.N, c.C, c.size + c.extraH, c.size + c.extraW];
  const yShape = [c.N, c.C, outSize(shape[2], c.size, c.stride, 0), outSize(shape[3], c.size, c.stride, 0)];
  return { p, x: draw(shape, c.values, 0), dy: draw(yShape, { ...c.values, kind: 'normal' }, 1) };
};

export interface SoftmaxCase { readonly N: number; readonly K: number; readonly values: Values }
const softmaxArb: fc.Arbitrary<SoftmaxCase> = fc.record({
  N: fc.integer({ min: 1, max: 4 }),
  K: fc.integer({ min: 2, max: 40 }),
  values: valuesArb(),
});
const labelsOf = (c: SoftmaxCase): Int32Array => Int32Array.from({ length: c.N }, (_, n) => (c.values.seed + 7 * n) % c.K);

export interface SgdCase {
  readonly n: number; readonly lr: number; readonly momentum: number; readonly weightDecay: number;
  readonly values: Values;
}
const sgdArb: fc.Arbitrary<SgdCase> = fc.record({
  n: fc.integer({ min: 1, max: 300 }),
  lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
  momentum: fc.double({ min: 0, max: 0.99, noNaN: true }),
  weightDecay: fc.double({ min: 0, max: 0.01, noNaN: true }),
  values: valuesArb(),
});

const BIG_SGD: readonly FixedCase<SgdCase>[] = [
  { label: '2049x8193 weights (indices past 2^24)', params: { n: 2049 * 8193, lr: 0.01, momentum: 0.9, weightDecay: 0.0005, values: { kind: 'normal', scale: 1, seed: 3 } }, lean: true },
];

// ---- tolerances ---------------------------------------------------------------------------

/** Outputs that are inputs moved or selected (rounding of one operation at most). */
const exact = (want: readonly Tensor[]): Tolerance[] => want.map((t) => reductionTolerance(1, maxAbsOf(t)));

/**
 * Walks every (n, position) column of channels of an LRN input: `f` gets the
 * column's flat offsets and s[i] = k + alpha * (window sum of squares) of
 * every channel.
 */
const lrnColumns = (x: Tensor, p: LrnParams, f: (at: (c: number) => number, s: readonly number[]) => void): void => {
  const [N, C] = x.shape;
  const inner = x.size / (N * C);
  const half = Math.floor(p.n / 2);
  for (let n = 0; n < N; n++)
    for (let q = 0; q < inner; q++) {
      const at = (c: number) => (n * C + c) * inner + q;
      f(at, Array.from({ length: C }, (_, i) => {
        let sum = 0;
        for (let j = Math.max(0, i - half); j <= Math.min(C - 1, i + half); j++) sum += x.data[at(j)] ** 2;
        return p.k + p.alpha * sum;
      }));
    }
};

/** The largest s of an LRN case, which sets the error of s^-beta. */
const lrnScaleMax = (x: Tensor, p: LrnParams): number => {
  let worst = p.k;
  lrnColumns(x, p, (_at, s) => { worst = Math.max(worst, ...s); });
  return worst;
};

/**
 * The largest sum of |terms| of lrnGrad:
 * |dy[m]| s[m]^-beta + 2 alpha beta |a[m]| sum_i |dy[i] a[i]| s[i]^(-beta - 1).
 */
const lrnGradScale = (x: Tensor, dy: Tensor, p: LrnParams): number => {
  const half = Math.floor(p.n / 2);
  let worst = 0;
  lrnColumns(x, p, (at, s) => {
    for (let m = 0; m < s.length; m++) {
      let cross = 0;
      for (let i = Math.max(0, m - half); i <= Math.min(s.length - 1, m + half); i++) cross += Math.abs(dy.data[at(i)] * x.data[at(i)]) * s[i] ** (-p.beta - 1);
      worst = Math.max(worst, Math.abs(dy.data[at(m)]) * s[m] ** -p.beta + 2 * p.alpha * p.beta * Math.abs(x.data[at(m)]) * cross);
    }
  });
  return worst;
};

const edgeOf = (v: Values): string => {
  switch (v.kind) {
    case 'normal': return `ordinary values (scale ${v.scale})`;
    case 'ties': return `exact ties and exact zeros (grid ${v.scale / 2})`;
    case 'sparse': return `mostly exact zeros (others of scale ${v.scale})`;
    case 'large': return 'large magnitudes (about 1e4)';
    case 'tiny': return 'tiny magnitudes (about 1e-30)';
    case 'subnormal': return 'subnormal magnitudes (about 1e-40, below 2^-126)';
  }
};

// ---- the properties --------------------------------------------------------------------------

const conv2d = (c: ConvCase): Check => {
  const t = convTensors(c);
  return {
    inputs: [t.x, t.w, t.b], edge: edgeOf(c.values),
    call: (b, [x, w, bias]) => [b.conv2d(x, w, bias, t.p)],
    tolerance: (_w, abs) => [reductionTolerance(c.Cg * c.K * c.K + 1, abs())],
  };
};
const conv2dGradInput = (c: ConvCase): Check => {
  const t = convTensors(c);
  return {
    inputs: [t.dy, t.w], edge: edgeOf(c.values),
    call: (b, [dy, w]) => [b.conv2dGradInput(dy, w, t.x.shape, t.p)],
    tolerance: (_w, abs) => [reductionTolerance(c.Fg * Math.ceil(c.K / c.stride) ** 2, abs())],
  };
};
const conv2dGradFilter = (c: ConvCase): Check => {
  const t = convTensors(c);
  return {
    inputs: [t.x, t.dy], edge: edgeOf(c.values),
    call: (b, [x, dy]) => [b.conv2dGradFilter(x, dy, t.w.shape, t.p)],
    tolerance: (_w, abs) => [reductionTolerance(c.N * t.OH * t.OW, abs())],
  };
};

export const PROPERTIES: readonly KernelProperty[] = [
  property<PlumbingCase>({
    kernel: 'upload/download', methods: [], cases: 12, arbitrary: plumbingArb,
    computes: 'a tensor uploaded and downloaded again is the same tensor',
    check: (c) => ({ inputs: [draw(mapShape(c), c.values)], edge: edgeOf(c.values), call: (_b, [h]) => [h], tolerance: exact }),
  }),
  property<PlumbingCase>({
    kernel: 'reshape', methods: ['reshape'], cases: 12, arbitrary: plumbingArb,
    computes: 'the same values in another shape of the same size',
    check: (c) => {
      const x = draw(mapShape(c), c.values);
      return { inputs: [x], edge: edgeOf(c.values), call: (b, [h]) => [b.reshape(h, [x.size])], tolerance: exact };
    },
  }),
  property<PlumbingCase>({
    kernel: 'concat', methods: ['concat'], cases: 12, arbitrary: plumbingArb,
    computes: 'tensors joined along axis 1',
    check: (c) => {
      const xs = Array.from({ length: c.parts }, (_, i) => draw([c.N, c.C + i, ...mapShape(c).slice(2)], c.values, i));
      return { inputs: xs, edge: edgeOf(c.values), call: (b, hs) => [b.concat(hs)], tolerance: exact };
    },
  }),
  property<PlumbingCase>({
    kernel: 'slice', methods: ['slice'], cases: 12, arbitrary: plumbingArb,
    computes: 'channels [start, start + count) of axis 1',
    check: (c) => {
      const x = draw(mapShape(c), c.values);
      const start = c.at % x.shape[1];
      const count = 1 + (c.at % (x.shape[1] - start));
      return { inputs: [x], edge: `${edgeOf(c.values)}, channels ${start}..${start + count - 1}`, call: (b, [h]) => [b.slice(h, start, count)], tolerance: exact };
    },
  }),
  property<MapCase>({
    kernel: 'add', methods: ['add'], cases: 12, arbitrary: mapArb, fixed: MAP_FIXED,
    computes: 'a + b elementwise',
    check: (c) => {
      const a = draw(mapShape(c), c.values, 0);
      const b = draw(mapShape(c), c.values, 1);
      return { inputs: [a, b], edge: edgeOf(c.values), call: (be, [p, q]) => [be.add(p, q)], tolerance: () => [reductionTolerance(2, maxAbsOf(a) + maxAbsOf(b))] };
    },
  }),
  property<ConvCase>({
    kernel: 'conv2d', methods: ['conv2d'], cases: 16, arbitrary: convArb, check: conv2d, fixed: CONV_FIXED,
    computes: 'y[n,f,i,j] = b[f] + sum over the group\'s channels c and taps (u,v) of x[n,c,i*s+u-p,j*s+v-p] w[f,c,u,v] (zero outside x)',
  }),
  property<ConvCase>({
    kernel: 'conv2dGradInput', methods: ['conv2dGradInput'], cases: 16, arbitrary: convArb, check: conv2dGradInput, fixed: CONV_FIXED,
    computes: 'dL/dx of conv2d: every x position gets the dy of each window that read it, times the weight it was read with',
  }),
  property<ConvCase>({
    kernel: 'conv2dGradFilter', methods: ['conv2dGradFilter'], cases: 16, arbitrary: convArb, check: conv2dGradFilter, fixed: CONV_FIXED,
    computes: 'dL/dw of conv2d: sum over the batch and output positions of dy times the input the tap read',
  }),
  property<MapCase>({
    kernel: 'biasGrad', methods: ['biasGrad'], cases: 12, arbitrary: mapArb, fixed: MAP_FIXED,
    computes: 'the sum of dy over every axis but 1',
    check: (c) => {
      const dy = draw(mapShape(c), c.values);
      return { inputs: [dy], edge: edgeOf(c.values), call: (b, [h]) => [b.biasGrad(h)], tolerance: (_w, abs) => [reductionTolerance(dy.size / dy.shape[1], abs())] };
    },
  }),
  property<LinearCase>({
    kernel: 'linear', methods: ['linear'], cases: 24, arbitrary: linearArb, fixed: BIG_LINEAR,
    computes: 'y = x w^T + b, x [N, K], w [M, K]',
    check: (c) => {
      const t = linearTensors(c);
      return { inputs: [t.x, t.w, t.b], edge: edgeOf(c.values), call: (b, [x, w, bias]) => [b.linear(x, w, bias)], tolerance: (_w, abs) => [reductionTolerance(c.K + 1, abs())] };
    },
  }),
  property<LinearCase>({
    kernel: 'linearGradInput', methods: ['linearGradInput'], cases: 24, arbitrary: linearArb, fixed: BIG_LINEAR,
    computes: 'dx = dy w',
    check: (c) => {
      const t = linearTensors(c);
      return { inputs: [t.dy, t.w], edge: edgeOf(c.values), call: (b, [dy, w]) => [b.linearGradInput(dy, w)], tolerance: (_w, abs) => [reductionTolerance(c.M, abs())] };
    },
  }),
  property<LinearCase>({
    kernel: 'linearGradWeight', methods: ['linearGradWeight'], cases: 24, arbitrary: linearArb, fixed: BIG_LINEAR,
    computes: 'dw = dy^T x',
    check: (c) => {
      const t = linearTensors(c);
      return { inputs: [t.x, t.dy], edge: edgeOf(c.values), call: (b, [x, dy]) => [b.linearGradWeight(x, dy)], tolerance: (_w, abs) => [reductionTolerance(c.N, abs())] };
    },
  }),
  property<MapCase>({
    kernel: 'relu', methods: ['relu'], cases: 12, arbitrary: mapArb, fixed: MAP_FIXED,
    computes: 'max(0, x)',
    check: (c) => ({ inputs: [draw(mapShape(c), c.values)], edge: edgeOf(c.values), call: (b, [h]) => [b.relu(h)], tolerance: exact }),
  }),
  property<MapCase>({
    kernel: 'reluGrad', methods: ['reluGrad'], cases: 12, arbitrary: decidingMapArb, fixed: MAP_FIXED,
    computes: 'dy where the ReLU output y > 0, else 0 (0 at y = 0 exactly)',
    check: (c) => {
      const y = draw(mapShape(c), c.values, 0).map((v) => (v > 0 ? v : 0));
      const dy = draw(mapShape(c), { ...c.values, kind: 'normal' }, 1);
      return { inputs: [y, dy], edge: edgeOf(c.values), call: (b, [yh, dh]) => [b.reluGrad(yh, dh)], tolerance: exact };
    },
  }),
  property<LrnCase>({
    kernel: 'lrn', methods: ['lrn'], cases: 16, arbitrary: lrnArb, fixed: LRN_FIXED,
    computes: 'b[i] = a[i] / (k + alpha sum_{j=i-n/2}^{i+n/2} a[j]^2)^beta across channels (alpha times the plain sum)',
    check: (c) => {
      const p: LrnParams = { k: c.k, n: c.n, alpha: c.alpha, beta: c.beta };
      const x = draw(c.shape, c.values);
      const span = 2 * Math.floor(c.n / 2) + 1;
      return {
        inputs: [x], edge: edgeOf(c.values), call: (b, [h]) => [b.lrn(h, p)],
        tolerance: (want) => [widen(reductionTolerance(span, maxAbsOf(want[0]), 1), powRtol(lrnScaleMax(x, p), c.beta), maxAbsOf(want[0]))],
      };
    },
  }),
  property<LrnCase>({
    kernel: 'lrnGrad', methods: ['lrnGrad'], cases: 16, arbitrary: lrnArb, fixed: LRN_FIXED,
    computes: 'dL/da of lrn: dy[m] s[m]^-beta - 2 alpha beta a[m] sum_{i in W(m)} dy[i] a[i] s[i]^(-beta-1)',
    check: (c) => {
      const p: LrnParams = { k: c.k, n: c.n, alpha: c.alpha, beta: c.beta };
      const x = draw(c.shape, c.values, 0);
      const dy = draw(c.shape, { ...c.values, kind: 'normal' }, 1);
      const span = 2 * Math.floor(c.n / 2) + 1;
      const scale = lrnGradScale(x, dy, p);
      return {
        inputs: [x, dy], edge: edgeOf(c.values), call: (b, [h, d]) => [b.lrnGrad(h, d, p)],
        tolerance: () => [widen(reductionTolerance(span * span, scale, 2), powRtol(lrnScaleMax(x, p), c.beta + 1), scale)],
      };
    },
  }),
  property<PoolCase>({
    kernel: 'maxPool', methods: ['maxPool'], cases: 16, arbitrary: poolArb, fixed: POOL_FIXED,
    computes: 'the largest value of each size x size window, windows every stride pixels, no padding, sizes rounded down',
    check: (c) => {
      const t = poolTensors(c);
      return { inputs: [t.x], edge: edgeOf(c.values), call: (b, [h]) => [b.maxPool(h, t.p)], tolerance: exact };
    },
  }),
  property<PoolCase>({
    kernel: 'maxPoolGrad', methods: ['maxPoolGrad'], cases: 16, arbitrary: poolArb, fixed: POOL_FIXED,
    computes: 'each window\'s dy goes to its first maximum in row-major order (ties: the first); overlapping windows add up',
    check: (c) => {
      const t = poolTensors(c);
      return {
        inputs: [t.x, t.dy], edge: edgeOf(c.values), call: (b, [x, dy]) => [b.maxPoolGrad(x, dy, t.p)],
        tolerance: (_w, abs) => [reductionTolerance(Math.ceil(c.size / c.stride) ** 2, abs([false, true]))],
      };
    },
  }),
  property<DropoutCase>({
    kernel: 'dropout', methods: ['dropout'], cases: 12, arbitrary: dropoutArb, fixed: DROPOUT_FIXED,
    computes: 'x times an explicit mask (0 or the keep scale 1/(1-p))',
    check: (c) => {
      const x = draw(mapShape(c), c.values, 0);
      return { inputs: [x, maskFor(x, c)], edge: `${edgeOf(c.values)}, drop probability ${c.p}`, call: (b, [h, m]) => [b.dropout(h, m)], tolerance: exact };
    },
  }),
  property<DropoutCase>({
    kernel: 'dropoutGrad', methods: ['dropoutGrad'], cases: 12, arbitrary: dropoutArb, fixed: DROPOUT_FIXED,
    computes: 'dy times the same mask',
    check: (c) => {
      const dy = draw(mapShape(c), c.values, 0);
      return { inputs: [dy, maskFor(dy, c)], edge: `${edgeOf(c.values)}, drop probability ${c.p}`, call: (b, [h, m]) => [b.dropoutGrad(h, m)], tolerance: exact };
    },
  }),
  property<SoftmaxCase>({
    kernel: 'softmaxCrossEntropy', methods: ['softmaxCrossEntropy'], cases: 16, arbitrary: softmaxArb,
    computes: 'softmax probabilities, mean cross-entropy against integer labels, and its gradient (p - onehot) / N',
    check: (c) => {
      const z = draw([c.N, c.K], c.values);
      const labels = labelsOf(c);
      return {
        inputs: [z], edge: `${edgeOf(c.values)}, labels ${Array.from(labels).join(',')}`,
        call: (b, [h]) => { const r = b.softmaxCrossEntropy(h, labels); return [r.probs, r.dlogits, r.loss]; },
        tolerance: (want) => {
          const loss = reductionTolerance(c.K, 2 * maxAbsOf(z) + Math.log(c.K), 2);
          return [
            reductionTolerance(c.K, 1, 2),
            reductionTolerance(c.K, 1 / c.N, 2),
            { ...loss, atol: loss.atol + loss.rtol * maxAbsOf(want[2]) },
          ];
        },
      };
    },
  }),
  property<SgdCase>({
    kernel: 'sgdUpdate', methods: ['sgdUpdate'], cases: 12, arbitrary: sgdArb, fixed: BIG_SGD,
    computes: 'the paper\'s update: v <- momentum v - weightDecay lr w - lr g; w <- w + v',
    check: (c) => {
      const w = draw([c.n], c.values, 0);
      const v = draw([c.n], { ...c.values, scale: c.values.scale * 0.1 }, 1);
      const g = draw([c.n], c.values, 2);
      const sgd: SgdParams = { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay };
      const vTerms = c.momentum * maxAbsOf(v) + c.weightDecay * c.lr * maxAbsOf(w) + c.lr * maxAbsOf(g);
      return {
        inputs: [w, v, g], edge: edgeOf(c.values),
        call: (b, [wh, vh, gh]) => { const r = b.sgdUpdate(wh, vh, gh, sgd); return [r.w, r.v]; },
        tolerance: () => [reductionTolerance(4, maxAbsOf(w) + vTerms), reductionTolerance(3, vTerms)],
      };
    },
  }),
];

export const propertyOf = (kernel: KernelName): KernelProperty => PROPERTIES.find((p) => p.kernel === kernel)!;
