/**
 * The gpu.js backend: every kernel of the contract (core/backend.ts), forward
 * and backward, as gpu.js kernels in float32. One instance is one GPU context.
 *
 *   const gpu0 = createGpuBackend();                  // headless GL if it works here, else webasm, else cpu
 *   const gpu1 = createGpuBackend({ mode: 'headlessgl' }); // or fail with the reason GL is missing
 *   const gpu2 = createGpuBackend({ mode: 'webgl2' });     // in a browser (the page, npm run web)
 *   gpu0.mode                                          // the mode gpu.js really runs
 *
 * Tensors stay on the device between kernels (pipeline textures on GL); the
 * host sees values only through `download` (the executor's tower exchanges and
 * logits), and the loss, which `softmaxCrossEntropy` reads back as N numbers.
 * Each kernel is compiled once per shape (see kernels.ts) and every handle's
 * memory goes back when it is disposed, so a training step inside a Scope
 * leaves the device as it found it.
 *
 * On GL the heavy kernels read and write four floats a texel: convolutions
 * run as matrix products over the unrolled input (lowering.ts), or, with
 * `convolution: 'direct'` or when the unrolled input would be too large, as
 * four-outputs-a-thread kernels (kernels.ts); the fully connected layers and
 * the update take their operands as whole texels (`runVec4`). webasm and cpu
 * run the one-output kernels of kernels.ts.
 *
 * gpu.js's WebGPU mode is a backend of its own, in webgpu.ts: the same
 * one-output kernels as WGSL compute shaders over f32 storage buffers. A
 * WebGPU buffer is read only through `mapAsync`, so every gpu.js kernel call
 * in that mode answers with a promise and the backend is an `AsyncBackend`
 * (`await createWebGpuBackend()`); results stay on the device as pipeline
 * buffers, read back by `download` and the loss. In Node it needs the `webgpu`
 * package (Dawn) for `navigator.gpu`, and a Vulkan driver that Dawn finds when
 * the process starts (`webgpuEnvironment()`: SwiftShader's, without a GPU).
 */
import type { Backend, ConvParams, Handle, LossResult, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { own } from '../../core/backend.ts';
import { fail } from '../../core/errors.ts';
import { type Shape, sameShape, shapeString, sizeOf, Tensor } from '../../core/tensor.ts';
import { checkLoss, checkLrn, convShape, poolShape } from './checks.ts';
import { Device, type DeviceCounters, type GlInfo, type GpuMode, type GpuModeRequest, isGlMode, resolveMode, type Store } from './device.ts';
import * as K from './kernels.ts';
import * as L from './lowering.ts';

export type { GlInfo, GlMode, GpuMode, GpuModeRequest } from './device.ts';
export { availability, GL_MODES, GPU_MODES, headlessGlAvailability, isGlMode } from './device.ts';

export interface GpuBackendOptions {
  /** 'auto' (default): headless GL where it works, else webasm, else cpu. */
  readonly mode?: GpuModeRequest;
  /** Defaults to "gpu.js <mode> #<n>", n counting the contexts made in this process. */
  readonly name?: string;
  /**
   * How GL computes a convolution. 'lowered': as matrix products over the
   * unrolled input (lowering.ts), the fastest; 'direct': four outputs a thread
   * straight from the input (kernels.ts), which needs no extra memory; 'auto'
   * (default): lowered unless the unrolled input would pass LOWERED_TEXELS_MAX
   * texels. webasm and cpu always run their one-output kernels.
   */
  readonly convolution?: ConvolutionMethod;
}

export type ConvolutionMethod = 'auto' | 'lowered' | 'direct';
export const CONVOLUTION_METHODS: readonly ConvolutionMethod[] = ['auto', 'lowered', 'direct'];

/** 2^24 texels: a 256 MB float texture, beyond which 'auto' convolves directly. */
export const LOWERED_TEXELS_MAX = 2 ** 24;

export interface GpuStats extends DeviceCounters {
  /** Handles made and not yet disposed. */
  readonly liveHandles: number;
  /** GL textures alive in the context, kernel-owned ones included (null off GL). */
  readonly textures: number | null;
}

export interface GpuBackend extends Backend {
  /** The mode gpu.js really runs: every kernel call checks it. */
  readonly mode: GpuMode;
  /** What was asked for. */
  readonly requested: GpuModeRequest;
  /** With 'auto': why better modes were passed over (null if none was). */
  readonly passedOver: string | null;
  /** GL textures alive in this context (null off GL); see GpuStats.textures. */
  textureCount(): number | null;
  /** What the GL context says of itself: renderer, version, float precision (null off GL). */
  readonly glInfo: GlInfo | null;
  /** Kernels compiled so far (one per distinct kernel and shape). */
  kernelCount(): number;
  stats(): GpuStats;
  /** Releases the context and every kernel; the backend is unusable afterwards. */
  destroy(): void;
}

class GpuHandle implements Handle {
  constructor(
    readonly owner: GpuJsBackend,
    readonly shape: Shape,
    public store: Store | null,
  ) {}
}

const shapeFail = (message: string): never => fail('ShapeError', message);

let contexts = 0;

class GpuJsBackend implements GpuBackend {
  readonly name: string;
  readonly mode: GpuMode;
  readonly passedOver: string | null;
  private readonly device: Device;
  private readonly dialect: K.Dialect;
  /** Whether this context runs GLSL (headless-gl, WebGL2 or WebGL). */
  private readonly gl: boolean;
  private live = 0;

  constructor(readonly requested: GpuModeRequest, name?: string, readonly convolution: ConvolutionMethod = 'auto') {
    if (!CONVOLUTION_METHODS.includes(convolution)) fail('ArgumentError', `convolution method '${String(convolution)}' is not one of ${CONVOLUTION_METHODS.join(', ')}`);
    const { mode, passedOver } = resolveMode(requested);
    this.mode = mode;
    this.passedOver = passedOver;
    this.device = new Device(mode);
    this.gl = isGlMode(mode);
    this.dialect = mode === 'webasm' ? K.WASM : K.GLSL;
    this.name = name ?? `gpu.js ${mode} #${contexts}`;
    contexts++;
  }

  // ---- handles ------------------------------------------------------------------

  private store(h: Handle): Store {
    own(this, h);
    if (this.device.destroyed) fail('BackendError', `${this.name} was destroyed; its tensors are gone`);
    const s = (h as GpuHandle).store;
    if (!s) fail('BackendError', `a tensor ${shapeString(h.shape)} of ${this.name} was used after it was disposed`);
    return s!;
  }

  private make(shape: Shape, s: Store): Handle {
    this.live++;
    return new GpuHandle(this, Object.freeze([...shape]), s);
  }

  private run(src: K.KernelSource, shape: Shape, args: readonly unknown[]): Handle {
    if (sizeOf(src.output) !== sizeOf(shape)) throw new Error(`internal: kernel ${src.name} makes ${sizeOf(src.output)} values for ${shapeString(shape)}`);
    return this.make(shape, this.device.run(src, args));
  }

  /** A four-outputs-a-thread kernel, then its result laid out flat; the blocked texture is freed. */
  private runBlocked(src: K.Blocked, shape: Shape, args: readonly unknown[]): Handle {
    const blocked = this.device.run(src.main, args);
    try {
      return this.run(src.unblock, shape, [blocked]);
    } finally {
      this.device.release(blocked);
    }
  }

  /**
   * A kernel returning four values a thread on the grid [ceil(size/4)], whose
   * result is the packed layout of `shape`; the arguments at the `vec4` positions
   * are read as whole texels (see kernels.ts, "four values a texel").
   */
  private runVec4(src: K.KernelSource, shape: Shape, args: readonly (Handle | number)[], vec4: readonly number[]): Handle {
    return this.make(shape, this.withTemps((_, texels) => {
      const values = args.map((a, i) => (typeof a === 'number' ? a : vec4.includes(i) ? texels(this.store(a)) : this.store(a)));
      return this.device.packedView(this.device.run(src, values), sizeOf(shape));
    }));
  }

  // ---- convolution as matrix products (GL; see lowering.ts) ----------------------------

  /** The lowering of this convolution when GL should compute it as products, else null. */
  private lowered(xShape: Shape, wShape: Shape, p: ConvParams): L.Lowering | null {
    if (!this.gl || this.convolution === 'direct') return null;
    const l = L.lowering(xShape, wShape, p);
    return this.convolution === 'lowered' || L.loweredTexels(l) <= LOWERED_TEXELS_MAX ? l : null;
  }

  /**
   * Runs `body` with a `layout` function that runs a four-values-a-thread
   * layout or product kernel and returns its result as `size` packed floats,
   * and a `texels` function that views a packed store as whole texels. Every
   * store either made is released when `body` returns.
   */
  private withTemps<R>(body: (layout: (src: K.KernelSource, args: readonly unknown[], size: number) => Store, texels: (s: Store) => Store) => R): R {
    const temps: Store[] = [];
    const keep = (s: Store): Store => {
      temps.push(s);
      return s;
    };
    try {
      return body(
        (src, args, size) => keep(this.device.packedView(this.device.run(src, args), size)),
        (s) => keep(this.device.vec4View(s)),
      );
    } finally {
      for (const t of temps) this.device.release(t);
    }
  }

  /** A `matmulABt` product's four results, as packed textures of L.productSize values each. */
  private product(G: number, Ir: number, J: number, KQ: number, a: Store, bm: Store): Store[] {
    return this.device.runMany(L.matmulABt(G, Ir, J, KQ), [a, bm]).map((t) => this.device.packedView(t, L.productSize(G, Ir, J)));
  }

  /** Runs `copy` on the product's results, which are released afterwards. */
  private fromProduct(c: readonly Store[], copy: K.KernelSource, more: readonly Store[] = []): Store {
    try {
      return this.device.run(copy, [...c, ...more]);
    } finally {
      for (const t of c) this.device.release(t);
    }
  }

  private conv2dLowered(l: L.Lowering, x: Store, w: Store, b: Store): Store {
    const c = this.withTemps((layout, texels) => {
      const col = layout(L.im2col(l), [x], l.G * l.N * l.P4 * l.Kd4);
      const filters = l.Kd4 === l.Kd ? w : layout(L.filtersPadded(l), [w], l.F * l.Kd4);
      return this.product(l.G, l.Fg, l.N * l.P4, l.Kd4 / 4, texels(filters), texels(col));
    });
    return this.fromProduct(c, L.outputFromProduct(l), [b]);
  }

  private conv2dGradInputLowered(l: L.Lowering, dy: Store, w: Store): Store {
    const c = this.withTemps((layout, texels) => {
      const dyT = layout(L.gradColumns(l), [dy], l.G * l.N * l.P4 * l.Fg4);
      const wT = layout(L.filtersT(l), [w], l.G * l.Kd4 * l.Fg4);
      return this.product(l.G, l.N * l.P4, l.Kd4, l.Fg4 / 4, texels(dyT), texels(wT));
    });
    return this.fromProduct(c, L.col2im(l));
  }

  private conv2dGradFilterLowered(l: L.Lowering, x: Store, dy: Store): Store {
    const c = this.withTemps((layout, texels) => {
      const dyRows = layout(L.gradRows(l), [dy], l.F * l.N * l.P4);
      const colT = layout(L.im2colT(l), [x], l.G * l.Kd4 * l.N * l.P4);
      return this.product(l.G, l.Fg, l.Kd4, (l.N * l.P4) / 4, texels(dyRows), texels(colT));
    });
    return this.fromProduct(c, L.filterGradFromProduct(l));
  }

  /** A [N, M] result made four columns a thread, n fastest, in row order (already so for N = 1). */
  private byColumnBlocks(h: Handle): Handle {
    const [N, M] = h.shape;
    if (N === 1) return h;
    try {
      return this.run(K.fromColumnBlocks(N, M), h.shape, [this.store(h)]);
    } finally {
      this.dispose(h);
    }
  }

  upload(t: Tensor): Handle {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    return this.make(t.shape, this.device.upload(data, K.copy(t.size)));
  }

  download(h: Handle): Tensor {
    return Tensor.trusted(h.shape, this.device.download(this.store(h), sizeOf(h.shape)));
  }

  dispose(h: Handle): void {
    own(this, h);
    const g = h as GpuHandle;
    if (!g.store) return;
    this.device.release(g.store);
    g.store = null;
    this.live--;
  }

  liveCount(): number {
    return this.live;
  }

  get glInfo(): GlInfo | null {
    return this.device.glInfo;
  }

  textureCount(): number | null {
    return this.device.textureCount();
  }

  kernelCount(): number {
    return this.device.kernelCount();
  }

  stats(): GpuStats {
    return { ...this.device.counters, liveHandles: this.live, textures: this.device.textureCount() };
  }

  destroy(): void {
    this.device.destroy();
  }

  // ---- shape plumbing -------------------------------------------------------------

  reshape(x: Handle, shape: Shape): Handle {
    const s = this.store(x);
    if (sizeOf(shape) !== sizeOf(x.shape)) shapeFail(`cannot reshape ${shapeString(x.shape)} (${sizeOf(x.shape)} values) to ${shapeString(shape)}`);
    return this.make(shape, this.device.share(s));
  }

  concat(xs: readonly Handle[]): Handle {
    if (xs.length === 0) shapeFail('concat needs at least one tensor');
    const stores = xs.map((x) => this.store(x));
    const [N, , ...rest] = xs[0].shape;
    for (const x of xs) {
      if (x.shape.length < 2 || x.shape[0] !== N || !sameShape(x.shape.slice(2), rest)) {
        shapeFail(`concat joins along axis 1 tensors that agree elsewhere; got ${xs.map((t) => shapeString(t.shape)).join(' and ')}`);
      }
    }
    const C = xs.reduce((s, x) => s + x.shape[1], 0);
    return this.run(K.concat(xs.map((x) => x.shape)), [N, C, ...rest], stores);
  }

  slice(x: Handle, start: number, count: number): Handle {
    const s = this.store(x);
    const [N, C, ...rest] = x.shape;
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= C)) {
      shapeFail(`slice [${start}, ${start + count}) of axis 1 is outside ${shapeString(x.shape)}`);
    }
    return this.run(K.slice(x.shape, start, count), [N, count, ...rest], [s]);
  }

  add(a: Handle, b: Handle): Handle {
    const sa = this.store(a);
    const sb = this.store(b);
    if (!sameShape(a.shape, b.shape)) shapeFail(`add needs equal shapes, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
    return this.run(K.add(sizeOf(a.shape)), a.shape, [sa, sb]);
  }

  // ---- convolution ---------------------------------------------------------------------

  private convCheck(xShape: Shape, wShape: Shape, p: ConvParams): Shape {
    return convShape(xShape, wShape, p);
  }

  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle {
    const args = [this.store(x), this.store(w), this.store(b)];
    const yShape = this.convCheck(x.shape, w.shape, p);
    if (b.shape.length !== 1 || b.shape[0] !== w.shape[0]) shapeFail(`bias ${shapeString(b.shape)} does not match ${w.shape[0]} filters`);
    const l = this.lowered(x.shape, w.shape, p);
    if (l) return this.make(yShape, this.conv2dLowered(l, args[0], args[1], args[2]));
    if (this.gl) return this.runBlocked(K.conv2dBlocked(x.shape, w.shape, p), yShape, args);
    return this.run(K.conv2d(this.dialect, x.shape, w.shape, p), yShape, args);
  }

  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle {
    const args = [this.store(dy), this.store(w)];
    const yShape = this.convCheck(xShape, w.shape, p);
    if (!sameShape(dy.shape, yShape)) shapeFail(`dy ${shapeString(dy.shape)} is not the output shape ${shapeString(yShape)}`);
    const l = this.lowered(xShape, w.shape, p);
    if (l) return this.make(xShape, this.conv2dGradInputLowered(l, args[0], args[1]));
    if (this.gl && p.stride === 1) return this.runBlocked(K.conv2dGradInputBlocked(dy.shape, w.shape, xShape, p), xShape, args);
    return this.run(K.conv2dGradInput(this.dialect, dy.shape, w.shape, xShape, p), xShape, args);
  }

  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle {
    const args = [this.store(x), this.store(dy)];
    const yShape = this.convCheck(x.shape, wShape, p);
    if (!sameShape(dy.shape, yShape)) shapeFail(`dy ${shapeString(dy.shape)} is not the output shape ${shapeString(yShape)}`);
    const l = this.lowered(x.shape, wShape, p);
    if (l) return this.make(wShape, this.conv2dGradFilterLowered(l, args[0], args[1]));
    if (this.gl) return this.runBlocked(K.conv2dGradFilterBlocked(x.shape, dy.shape, wShape, p), wShape, args);
    return this.run(K.conv2dGradFilter(this.dialect, x.shape, dy.shape, wShape, p), wShape, args);
  }

  biasGrad(dy: Handle): Handle {
    const s = this.store(dy);
    if (dy.shape.length < 2) shapeFail(`biasGrad takes [N, F, ...], got ${shapeString(dy.shape)}`);
    return this.run(K.biasGrad(this.dialect, dy.shape), [dy.shape[1]], [s]);
  }

  // ---- fully connected ------------------------------------------------------------------

  linear(x: Handle, w: Handle, b: Handle): Handle {
    const args = [this.store(x), this.store(w), this.store(b)];
    if (x.shape.length !== 2 || w.shape.length !== 2 || x.shape[1] !== w.shape[1] || !sameShape(b.shape, [w.shape[0]])) {
      shapeFail(`linear takes x [N, K], w [M, K], b [M]; got ${shapeString(x.shape)}, ${shapeString(w.shape)}, ${shapeString(b.shape)}`);
    }
    const yShape = [x.shape[0], w.shape[0]];
    if (this.gl && x.shape[1] % 4 === 0 && w.shape[0] % 4 === 0 && x.shape[0] >= 4) {
      // y = x w^T is a product (lowering.ts) with the batch as its rows and the units as
      // its columns. Below four images its 4x4 tiles would be mostly empty, and the
      // kernel below, four units a thread, is faster (fc6 at batch 1: 26 against 33 ms).
      const [N, Kx] = x.shape;
      const M = w.shape[0];
      const c = this.withTemps((_, texels) => this.product(1, N, M, Kx / 4, texels(args[0]), texels(args[1])));
      return this.make(yShape, this.fromProduct(c, L.matrixFromProduct(N, M, true), [args[2]]));
    }
    if (this.gl && x.shape[1] % 4 === 0 && w.shape[0] % 4 === 0) return this.byColumnBlocks(this.runVec4(K.linearVec4(x.shape, w.shape), yShape, [x, w, b], [0, 1, 2]));
    return this.run(K.linear(this.dialect, x.shape, w.shape), yShape, args);
  }

  linearGradInput(dy: Handle, w: Handle): Handle {
    const args = [this.store(dy), this.store(w)];
    if (dy.shape.length !== 2 || w.shape.length !== 2 || dy.shape[1] !== w.shape[0]) {
      shapeFail(`linearGradInput takes dy [N, M] and w [M, K]; got ${shapeString(dy.shape)} and ${shapeString(w.shape)}`);
    }
    const xShape = [dy.shape[0], w.shape[1]];
    if (this.gl && dy.shape[1] % 4 === 0 && w.shape[1] % 4 === 0) return this.byColumnBlocks(this.runVec4(K.linearGradInputVec4(dy.shape, w.shape), xShape, [dy, w], [0, 1]));
    return this.run(K.linearGradInput(this.dialect, dy.shape, w.shape), xShape, args);
  }

  linearGradWeight(x: Handle, dy: Handle): Handle {
    const args = [this.store(x), this.store(dy)];
    if (x.shape.length !== 2 || dy.shape.length !== 2 || x.shape[0] !== dy.shape[0]) {
      shapeFail(`linearGradWeight takes x [N, K] and dy [N, M]; got ${shapeString(x.shape)} and ${shapeString(dy.shape)}`);
    }
    const wShape = [dy.shape[1], x.shape[1]];
    if (this.gl && x.shape[1] % 4 === 0) return this.runVec4(K.linearGradWeightVec4(x.shape, dy.shape), wShape, [x, dy], [0]);
    return this.run(K.linearGradWeight(this.dialect, x.shape, dy.shape), wShape, args);
  }

  // ---- nonlinearities and normalisation ------------------------------------------------

  relu(x: Handle): Handle {
    return this.run(K.relu(sizeOf(x.shape)), x.shape, [this.store(x)]);
  }

  reluGrad(y: Handle, dy: Handle): Handle {
    const args = [this.store(y), this.store(dy)];
    if (!sameShape(y.shape, dy.shape)) shapeFail(`reluGrad needs y and dy of one shape, got ${shapeString(y.shape)} and ${shapeString(dy.shape)}`);
    return this.run(K.reluGrad(sizeOf(y.shape)), y.shape, args);
  }

  private lrnCheck(shape: Shape, p: LrnParams): void {
    checkLrn(shape, p);
  }

  lrn(x: Handle, p: LrnParams): Handle {
    const s = this.store(x);
    this.lrnCheck(x.shape, p);
    return this.run(K.lrn(this.dialect, x.shape, p.n), x.shape, [s, p.k, p.alpha, p.beta]);
  }

  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle {
    const args = [this.store(x), this.store(dy)];
    this.lrnCheck(x.shape, p);
    if (!sameShape(x.shape, dy.shape)) shapeFail(`lrnGrad needs x and dy of one shape, got ${shapeString(x.shape)} and ${shapeString(dy.shape)}`);
    const s = this.run(K.lrnBase(this.dialect, x.shape, p.n), x.shape, [args[0], p.k, p.alpha]);
    const t = this.run(K.lrnCross(sizeOf(x.shape)), x.shape, [...args, this.store(s), p.beta]);
    try {
      return this.run(K.lrnGrad(this.dialect, x.shape, p.n), x.shape, [...args, this.store(s), this.store(t), p.alpha, p.beta]);
    } finally {
      this.dispose(s);
      this.dispose(t);
    }
  }

  private poolShape(shape: Shape, p: PoolParams): Shape {
    return poolShape(shape, p);
  }

  maxPool(x: Handle, p: PoolParams): Handle {
    const s = this.store(x);
    return this.run(K.maxPool(this.dialect, x.shape, p), this.poolShape(x.shape, p), [s]);
  }

  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle {
    const args = [this.store(x), this.store(dy)];
    const yShape = this.poolShape(x.shape, p);
    if (!sameShape(dy.shape, yShape)) shapeFail(`dy ${shapeString(dy.shape)} is not the pooled shape ${shapeString(yShape)}`);
    const arg = this.run(K.maxPoolArgmax(this.dialect, x.shape, p), yShape, [args[0]]);
    try {
      return this.run(K.maxPoolGrad(this.dialect, x.shape, p), x.shape, [this.store(arg), args[1]]);
    } finally {
      this.dispose(arg);
    }
  }

  // ---- dropout --------------------------------------------------------------------------

  dropout(x: Handle, mask: Handle): Handle {
    const args = [this.store(x), this.store(mask)];
    if (!sameShape(x.shape, mask.shape)) shapeFail(`dropout mask ${shapeString(mask.shape)} does not match x ${shapeString(x.shape)}`);
    return this.run(K.multiply('dropout', sizeOf(x.shape)), x.shape, args);
  }

  dropoutGrad(dy: Handle, mask: Handle): Handle {
    const args = [this.store(dy), this.store(mask)];
    if (!sameShape(dy.shape, mask.shape)) shapeFail(`dropout mask ${shapeString(mask.shape)} does not match dy ${shapeString(dy.shape)}`);
    return this.run(K.multiply('dropoutGrad', sizeOf(dy.shape)), dy.shape, args);
  }

  // ---- loss and update ------------------------------------------------------------------

  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult {
    const z = this.store(logits);
    const [N, Kc] = checkLoss(logits.shape, labels);
    const lab = Float32Array.from(labels);
    const top = this.device.run(K.logitMax(this.dialect, logits.shape), [z]);
    const sum = this.device.run(K.logitSumExp(this.dialect, logits.shape), [z, top]);
    const probs = this.run(K.softmax(logits.shape), logits.shape, [z, top, sum]);
    const dlogits = this.run(K.softmaxGrad(logits.shape), logits.shape, [this.store(probs), lab, 1 / N]);
    // The loss is read back: N numbers, averaged on the host.
    const rows = this.device.run(K.crossEntropy(logits.shape), [z, lab, top, sum]);
    const perRow = this.device.download(rows, N);
    for (const s of [rows, top, sum]) this.device.release(s);
    let loss = 0;
    for (let n = 0; n < N; n++) loss += perRow[n];
    return { loss: loss / N, probs, dlogits };
  }

  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle } {
    const args = [this.store(w), this.store(v), this.store(g)];
    if (!sameShape(w.shape, v.shape) || !sameShape(w.shape, g.shape)) {
      shapeFail(`sgdUpdate needs w, v, g of one shape, got ${shapeString(w.shape)}, ${shapeString(v.shape)}, ${shapeString(g.shape)}`);
    }
    const n = sizeOf(w.shape);
    if (this.gl) {
      const vNext4 = this.runVec4(K.sgdVelocityVec4(n), w.shape, [w, v, g, p.momentum, p.weightDecay * p.lr, p.lr], [0, 1, 2]);
      return { w: this.runVec4(K.sgdWeightVec4(n), w.shape, [w, vNext4], [0, 1]), v: vNext4 };
    }
    const vNext = this.run(K.sgdVelocity(n), w.shape, [...args, p.momentum, p.weightDecay * p.lr, p.lr]);
    const wNext = this.run(K.sgdWeight(n), w.shape, [args[0], this.store(vNext)]);
    return { w: wNext, v: vNext };
  }
}

/** One gpu.js context as a backend. Throws a BackendError when the asked-for mode cannot run here. */
export const createGpuBackend = (opts: GpuBackendOptions = {}): GpuBackend =>
  new GpuJsBackend(opts.mode ?? 'auto', opts.name, opts.convolution);

export const isGpuBackend = (b: Backend): b is GpuBackend => b instanceof GpuJsBackend;
