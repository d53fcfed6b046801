/**
 * ONNX Runtime's kernels behind the contract, so that the conformance kit can
 * check them: `onnxruntime-node` (native, its CPU execution provider, MLAS
 * kernels) or `onnxruntime-web` (its wasm backend: WebAssembly with SIMD, and
 * threads where `threads` > 1). ONNX Runtime's API is promises, so this is an
 * `AsyncBackend` (core/backend.ts): every kernel returns a promise.
 *
 * Each forward kernel of the contract is one ONNX model of one node (or, for
 * the loss, the few nodes ONNX Runtime's users write), built in code with the
 * exporter's builders (core/onnx/proto.ts) and run through an
 * `InferenceSession`, one per operator and shape, cached:
 *
 *   reshape       Reshape                   conv2d   Conv (group, pads, strides)
 *   concat        Concat, axis 1            linear   Gemm, transB = 1
 *   slice         Slice on axis 1           relu     Relu
 *   add           Add                       lrn      LRN (ours converted to ONNX's alpha/size form, core/onnx/export.ts)
 *   dropout       Mul by the mask           maxPool  MaxPool (no padding, floor mode)
 *   softmaxCrossEntropy  SoftmaxCrossEntropyLoss (mean) for the loss, Softmax for the
 *                 probabilities, and (Softmax - one-hot) / N for the logits' gradient
 *
 * What this adapter adds around ONNX Runtime, and nothing else: handles are
 * float32 arrays on the host, copied in and out of ONNX Runtime's tensors; the
 * parameters of a kernel (the shape of a reshape, the channels of a slice, the
 * split of the one-hot) become the model's constant inputs; the one-hot of
 * the labels is made on the host (the labels go to SoftmaxCrossEntropyLoss as
 * int64 as they are). So a verdict of the kit is about ONNX Runtime's kernels.
 *
 * ONNX Runtime has no training in JavaScript: the backward kernels and the
 * update are not offered (`notOffered`), which the kit reports as such.
 */
import { availableParallelism } from 'node:os';
import type { AsyncBackend, AsyncLossResult, Backend, ConvParams, Handle, LrnParams, PoolParams } from '../../core/backend.ts';
import { AlexnetFailure, argumentError } from '../../core/errors.ts';
import { lrnAttrs } from '../../core/onnx/export.ts';
import { encodeModel, type Initializer, INT64, type NodeDef, type ValueInfo } from '../../core/onnx/proto.ts';
import { type Shape, Tensor } from '../../core/tensor.ts';

export type OrtProvider = 'node' | 'wasm';

export const ORT_PACKAGES: Record<OrtProvider, string> = { node: 'onnxruntime-node', wasm: 'onnxruntime-web' };

/** The one line for a missing package: what to install, and how. */
export const ortMissing = (p: OrtProvider): string =>
  p === 'node'
    ? 'onnxruntime-node is not installed; install it with: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node (the variable skips its CUDA download; the CPU provider needs none)'
    : 'onnxruntime-web is not installed; install it with: npm install onnxruntime-web';

/** What the adapter uses of either package (onnxruntime-common's API). */
export interface OrtTensor { readonly data: unknown; readonly dims: readonly number[]; readonly type: string }
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  readonly Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  readonly env: { versions?: Record<string, string>; wasm: { numThreads?: number; simd?: boolean } };
}

/**
 * Loads a package; a missing one is one line naming the install command
 * (an ArgumentError: the CLI exits 2).
 */
export const loadOrt = async (p: OrtProvider, importer: (name: string) => Promise<unknown> = (n) => import(n)): Promise<OrtModule> => {
  try {
    const m = (await importer(ORT_PACKAGES[p])) as OrtModule & { default?: OrtModule };
    return m.InferenceSession ? m : m.default!;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new AlexnetFailure(argumentError(ortMissing(p)));
    throw e;
  }
};

export interface OrtOptions {
  readonly provider: OrtProvider;
  /** Threads of ONNX Runtime's intra-op pool (node) or of its wasm backend (wasm); default one per core. */
  readonly threads?: number;
  readonly name?: string;
}

/** The backward kernels and the update: ONNX Runtime offers no gradients in JavaScript. */
const NO_GRADIENTS = 'ONNX Runtime has no training in JavaScript (forward kernels only)';
export const NOT_OFFERED = {
  conv2dGradInput: NO_GRADIENTS, conv2dGradFilter: NO_GRADIENTS, biasGrad: NO_GRADIENTS,
  linearGradInput: NO_GRADIENTS, linearGradWeight: NO_GRADIENTS, reluGrad: NO_GRADIENTS,
  lrnGrad: NO_GRADIENTS, maxPoolGrad: NO_GRADIENTS, dropoutGrad: NO_GRADIENTS, sgdUpdate: NO_GRADIENTS,
} as const;

type Forward = 'reshape' | 'concat' | 'slice' | 'add' | 'conv2d' | 'linear' | 'relu' | 'lrn' | 'maxPool' | 'dropout' | 'softmaxCrossEntropy';
type Basics = 'upload' | 'download' | 'dispose' | 'liveCount';

/** An AsyncBackend whose memory calls answer at once (handles are host arrays) and whose kernels answer with promises. */
export type OrtBackend = { readonly name: string } & Pick<Backend, Basics> & Pick<AsyncBackend, Forward> & {
  readonly provider: OrtProvider;
  readonly threads: number;
  /** What runs, in words: the package, its version, the provider, the threads. */
  readonly detail: string;
  readonly notOffered: typeof NOT_OFFERED;
  /** How many sessions are cached (one per operator and shape). */
  sessions(): number;
  /** Releases every cached session. */
  destroy(): Promise<void>;
};

interface OrtHandle extends Handle {
  readonly data: Float32Array;
}

interface OneModel {
  readonly nodes: readonly NodeDef[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers?: readonly Initializer[];
}

const i64 = (xs: readonly number[]): BigInt64Array => BigInt64Array.from(xs.map(BigInt));
const size = (s: Shape) => s.reduce((a, b) => a * b, 1);

export const createOrtBackend = async (options: OrtOptions): Promise<OrtBackend> => {
  const { provider } = options;
  const ort = await loadOrt(provider);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new AlexnetFailure(argumentError(`ONNX Runtime threads must be a whole number of at least 1, got ${threads}`));
  if (provider === 'wasm') ort.env.wasm.numThreads = threads;
  const version = ort.env.versions?.[provider === 'node' ? 'node' : 'web'] ?? ort.env.versions?.common ?? '?';
  const name = options.name ?? `ort-${provider}`;
  const detail = provider === 'node'
    ? `ONNX Runtime ${version} (onnxruntime-node, CPU execution provider, ${threads} intra-op thread${threads === 1 ? '' : 's'})`
    : `ONNX Runtime ${version} (onnxruntime-web, wasm backend, ${threads} thread${threads === 1 ? '' : 's'})`;
  const sessionOptions = provider === 'node'
    ? { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 }
    : { executionProviders: ['wasm'] };

  const cache = new Map<string, Promise<OrtSession>>();
  let live = 0;
  let self: OrtBackend;

  const handle = (shape: Shape, data: Float32Array): OrtHandle => { live++; return { shape: [...shape], owner: self as never, data }; };
  const own = (...hs: Handle[]): OrtHandle[] => hs.map((h) => {
    if (h.owner !== (self as never)) throw new Error(`a tensor of ${h.owner.name} was handed to ${name}; move it with transfer() first`);
    return h as OrtHandle;
  });

  const session = (key: string, build: () => OneModel): Promise<OrtSession> => {
    let s = cache.get(key);
    if (!s) {
      const m = build();
      const bytes = encodeModel({ producerVersion: '', graph: { name: key, nodes: m.nodes, inputs: m.inputs, outputs: m.outputs, initializers: m.initializers ?? [] } });
      s = ort.InferenceSession.create(bytes, sessionOptions);
      cache.set(key, s);
    }
    return s;
  };
  const f32 = (h: OrtHandle) => new ort.Tensor('float32', h.data, h.shape);
  /** Runs a cached model on the inputs and returns its float32 outputs as new handles. */
  const run = async (key: string, build: () => OneModel, feeds: Record<string, OrtTensor>, outs: readonly string[]): Promise<OrtHandle[]> => {
    const r = await (await session(key, build)).run(feeds);
    // A copy: the handle owns its values whatever ONNX Runtime does with its buffers later.
    return outs.map((o) => handle(r[o].dims, Float32Array.from(r[o].data as Float32Array)));
  };
  const one = async (key: string, build: () => OneModel, feeds: Record<string, OrtTensor>): Promise<Handle> => (await run(key, build, feeds, ['y']))[0];
  const vi = (n: string, shape: Shape): ValueInfo => ({ name: n, shape });
  const unary = (op: string, x: OrtHandle, yShape: Shape, attrs?: NodeDef['attrs'], extra = ''): Promise<Handle> =>
    one(`${op}${extra} ${x.shape}`, () => ({
      nodes: [{ op, inputs: ['x'], outputs: ['y'], attrs }], inputs: [vi('x', x.shape)], outputs: [vi('y', yShape)],
    }), { x: f32(x) });
  const binary = (op: string, a: OrtHandle, b: OrtHandle): Promise<Handle> =>
    one(`${op} ${a.shape} ${b.shape}`, () => ({
      nodes: [{ op, inputs: ['a', 'b'], outputs: ['y'] }], inputs: [vi('a', a.shape), vi('b', b.shape)], outputs: [vi('y', a.shape)],
    }), { a: f32(a), b: f32(b) });

  self = {
    name, provider, threads, detail, notOffered: NOT_OFFERED,
    upload: (t: Tensor) => handle(t.shape, Float32Array.from(t.data)),
    download: (h: Handle) => { const [x] = own(h); return Tensor.trusted(x.shape, Float32Array.from(x.data)); },
    dispose: (h: Handle) => { own(h); live--; },
    liveCount: () => live,
    sessions: () => cache.size,
    destroy: async () => {
      const all = [...cache.values()];
      cache.clear();
      for (const s of all) await (await s).release();
    },

    reshape: (x: Handle, shape: Shape) => {
      const [h] = own(x);
      return one(`Reshape ${h.shape} -> ${shape}`, () => ({
        nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
        inputs: [vi('x', h.shape)], outputs: [vi('y', shape)],
        initializers: [{ name: 'shape', dims: [shape.length], data: i64(shape) }],
      }), { x: f32(h) });
    },
    concat: (xs: readonly Handle[]) => {
      const hs = own(...xs);
      const out = [hs[0].shape[0], hs.reduce((s, h) => s + h.shape[1], 0), ...hs[0].shape.slice(2)];
      return one(`Concat ${hs.map((h) => `[${h.shape}]`).join(' ')}`, () => ({
        nodes: [{ op: 'Concat', inputs: hs.map((_, i) => `x${i}`), outputs: ['y'], attrs: { axis: 1 } }],
        inputs: hs.map((h, i) => vi(`x${i}`, h.shape)), outputs: [vi('y', out)],
      }), Object.fromEntries(hs.map((h, i) => [`x${i}`, f32(h)])));
    },
    slice: (x: Handle, start: number, count: number) => {
      const [h] = own(x);
      const out = [h.shape[0], count, ...h.shape.slice(2)];
      return one(`Slice ${h.shape} ${start}+${count}`, () => ({
        nodes: [{ op: 'Slice', inputs: ['x', 'starts', 'ends', 'axes'], outputs: ['y'] }],
        inputs: [vi('x', h.shape)], outputs: [vi('y', out)],
        initializers: [
          { name: 'starts', dims: [1], data: i64([start]) }, { name: 'ends', dims: [1], data: i64([start + count]) }, { name: 'axes', dims: [1], data: i64([1]) },
        ],
      }), { x: f32(h) });
    },
    add: (a: Handle, b: Handle) => { const [x, y] = own(a, b); return binary('Add', x, y); },

    conv2d: (x: Handle, w: Handle, b: Handle, p: ConvParams) => {
      const [hx, hw, hb] = own(x, w, b);
      const [N, , H, W] = hx.shape;
      const [F, , k] = hw.shape;
      const o = (n: number) => Math.floor((n + 2 * p.pad - k) / p.stride) + 1;
      return one(`Conv ${hx.shape} ${hw.shape} ${p.stride} ${p.pad} ${p.groups}`, () => ({
        nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { kernel_shape: [k, k], strides: [p.stride, p.stride], pads: [p.pad, p.pad, p.pad, p.pad], dilations: [1, 1], group: p.groups } }],
        inputs: [vi('x', hx.shape), vi('w', hw.shape), vi('b', hb.shape)], outputs: [vi('y', [N, F, o(H), o(W)])],
      }), { x: f32(hx), w: f32(hw), b: f32(hb) });
    },
    linear: (x: Handle, w: Handle, b: Handle) => {
      const [hx, hw, hb] = own(x, w, b);
      return one(`Gemm ${hx.shape} ${hw.shape}`, () => ({
        nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { transB: 1 } }],
        inputs: [vi('x', hx.shape), vi('w', hw.shape), vi('b', hb.shape)], outputs: [vi('y', [hx.shape[0], hw.shape[0]])],
      }), { x: f32(hx), w: f32(hw), b: f32(hb) });
    },
    relu: (x: Handle) => { const [h] = own(x); return unary('Relu', h, h.shape); },
    lrn: (x: Handle, p: LrnParams) => {
      const [h] = own(x);
      return unary('LRN', h, h.shape, lrnAttrs(p), ` ${p.k} ${p.n} ${p.alpha} ${p.beta}`);
    },
    maxPool: (x: Handle, p: PoolParams) => {
      const [h] = own(x);
      const [N, C, H, W] = h.shape;
      const o = (n: number) => Math.floor((n - p.size) / p.stride) + 1;
      return unary('MaxPool', h, [N, C, o(H), o(W)], { kernel_shape: [p.size, p.size], strides: [p.stride, p.stride], pads: [0, 0, 0, 0], ceil_mode: 0 }, ` ${p.size} ${p.stride}`);
    },
    dropout: (x: Handle, mask: Handle) => { const [a, m] = own(x, mask); return binary('Mul', a, m); },

    softmaxCrossEntropy: async (logits: Handle, labels: Int32Array): Promise<AsyncLossResult> => {
      const [z] = own(logits);
      const [N, K] = z.shape;
      const oneHot = new Float32Array(N * K);
      labels.forEach((l, n) => { oneHot[n * K + l] = 1; });
      const [loss, probs, dlogits] = await run(`SoftmaxCrossEntropy ${z.shape}`, (): OneModel => ({
        nodes: [
          { op: 'SoftmaxCrossEntropyLoss', inputs: ['logits', 'labels'], outputs: ['loss'], attrs: { reduction: 'mean' } },
          { op: 'Softmax', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
          { op: 'Sub', inputs: ['probs', 'onehot'], outputs: ['diff'] },
          { op: 'Div', inputs: ['diff', 'n'], outputs: ['dlogits'] },
        ],
        inputs: [vi('logits', z.shape), { name: 'labels', elemType: INT64, shape: [N] }, vi('onehot', z.shape)],
        outputs: [vi('loss', []), vi('probs', z.shape), vi('dlogits', z.shape)],
        initializers: [{ name: 'n', dims: [], data: Float32Array.of(N) }],
      }), { logits: f32(z), labels: new ort.Tensor('int64', i64([...labels]), [N]), onehot: new ort.Tensor('float32', oneHot, [N, K]) }, ['loss', 'probs', 'dlogits']);
      const value = loss.data[0];
      live--; // the loss is a number, not a handle
      return { loss: value, probs, dlogits };
    },
  };
  return self;
};
