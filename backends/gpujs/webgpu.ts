/**
 * gpu.js's WebGPU mode as a backend: every kernel of the contract
 * (core/backend.ts) as a WGSL compute shader over f32 storage buffers, on one
 * WebGPU device. WebGPU reads back only through `mapAsync`, so every kernel
 * call of gpu.js in this mode answers with a promise, and so does this
 * backend: it is an `AsyncBackend`, run by a tower of its own
 * (backends/remote) where the executor and the kit need a `Backend`, or
 * awaited directly.
 *
 *   const env = webgpuEnvironment();               // what a process needs for Dawn to find a driver
 *   const { available, reason } = await webgpuAvailability();
 *   const gpu = await createWebGpuBackend();       // in a process started with env
 *   gpu.adapterInfo                                // { vendor, architecture, device, description, isFallbackAdapter }
 *   const y = await gpu.conv2d(x, w, b, p);        // stays on the device
 *   const t = await gpu.download(y);               // the one read (and the loss)
 *
 * - Node. gpu.js finds the device through `navigator.gpu`, which Node lacks;
 *   the `webgpu` package (Dawn for Node, an optional peer dependency) makes
 *   one, and `createWebGpuBackend` installs it where there is none. Dawn
 *   needs a driver: Vulkan on Linux. Without a GPU, Chromium's SwiftShader
 *   is one (`webgpuEnvironment()`), which the dynamic loader must see when
 *   the process starts, so a caller starts the process with that
 *   environment. Dawn loads in worker threads as well as in a process's main
 *   thread: each thread is a realm with its own gpu.js and its own device,
 *   and backends in two threads run side by side.
 * - The device. gpu.js keeps one device per JavaScript realm, shared by every
 *   `GPU` in webgpu mode, and asks the adapter for its largest storage
 *   buffers (fc6's weights are 151 MB, past the 128 MiB WebGPU grants by
 *   default); it takes no device from its caller. Two backends in one thread
 *   therefore share a device (an adapter gives one device only; a second
 *   needs a second adapter); the last one destroyed destroys it.
 * - Kernels. The one-output kernels of kernels.ts, compiled once per shape and
 *   cached (keyed by source and output grid). WGSL has true 32-bit integers
 *   and gpu.js indexes every buffer with an i32, so loop counters and thread
 *   ids index exactly past 2^24 without the webasm dialect's casts: the GLSL
 *   dialect is the one used. Every call checks that gpu.js ran the kernel as
 *   a WebGPU kernel and got a device buffer back.
 * - Buffers. Results are pipeline buffers (`WebGPUBufferResult`) that stay on
 *   the device and are passed to the next kernel as they are. gpu.js keeps a
 *   reference to a kernel's latest result buffer until the kernel runs again;
 *   the backend takes each result over from its kernel, so that disposing a
 *   handle destroys its GPUBuffer there and then. Uploads are buffers written
 *   by the queue (no kernel), reads go through a staging buffer of their own.
 *   `liveCount()` counts the device buffers holding tensors of this backend,
 *   temporaries included, so a leak shows.
 */
import * as gpujs from 'gpu.js';
import type { AsyncBackend, AsyncLossResult, Backend, ConvParams, Handle, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { fail } from '../../core/errors.ts';
import { type Shape, shapeString, sizeOf, Tensor } from '../../core/tensor.ts';
import {
  checkConvBias, checkConvGradient, checkLinear, checkLoss, checkLinearGradInput, checkLinearGradWeight, checkLrn, checkSameShapes,
  concatShape, convShape, poolShape, shapeFail, sliceShape,
} from './checks.ts';
import * as K from './kernels.ts';
import { type AdapterInfo, adapterInfoOf, webgpuAvailability } from '../webgpu/node.ts';

// ---- the little of WebGPU used here (the numbers are fixed by the standard) ---------------------

const STORAGE = 0x0080;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;
const MAP_MODE_READ = 0x0001;

interface GpuBuffer {
  readonly size: number;
  destroy(): void;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  /** gpu.js's reference count on a result buffer (buffer-result.js). */
  _refs?: number;
}
interface GpuDevice {
  readonly limits: { readonly maxStorageBufferBindingSize: number; readonly maxBufferSize: number; readonly maxComputeWorkgroupsPerDimension: number };
  readonly queue: {
    writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferView): void;
    submit(commands: unknown[]): void;
    onSubmittedWorkDone(): Promise<void>;
  };
  createBuffer(d: { size: number; usage: number }): GpuBuffer;
  createCommandEncoder(): { copyBufferToBuffer(a: GpuBuffer, ao: number, b: GpuBuffer, bo: number, size: number): void; finish(): unknown };
}
interface GpuAdapter {
  readonly info?: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>> & { readonly isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
}

/** gpu.js's device record (web-gpu/context.js). */
interface WebGpuContext { readonly adapter: GpuAdapter; readonly device: GpuDevice; readonly isLost: boolean }

/** gpu.js's pipeline result (web-gpu/buffer-result.js). */
interface BufferResult {
  readonly buffer: GpuBuffer;
  readonly output: readonly number[];
  readonly type: string;
  delete(): void;
  clone(): BufferResult;
}

type Kernel = ((...args: unknown[]) => Promise<unknown>) & {
  kernel: { outputBuffer: GpuBuffer | null; bindGroupDirty: boolean; constructor: { name: string } };
  destroy(removeCanvasReferences?: boolean): void;
};

const G = gpujs as unknown as {
  GPU: new (settings: { mode: string }) => { createKernel(src: string, settings: object): Kernel; destroy(): void };
  WebGPUKernel: new (...a: never[]) => unknown;
  WebGPUBufferResult: new (settings: { buffer: GpuBuffer; output: number[]; context: WebGpuContext; kernel: unknown }) => BufferResult;
  WebGPUContext: { acquire(): Promise<WebGpuContext>; destroy(): Promise<void> };
};

// Where Dawn finds a driver, navigator.gpu in Node, and what an adapter says of itself: backends/webgpu/node.ts.
export { type AdapterInfo, webgpuAvailability, webgpuEnvironment } from '../webgpu/node.ts';

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

export interface WebGpuStats {
  /** Kernels compiled and cached (one per distinct kernel and shape). */
  readonly kernels: number;
  readonly runs: number;
  readonly uploads: number;
  readonly uploadBytes: number;
  readonly downloads: number;
  readonly downloadBytes: number;
  /** Handles made and not yet disposed. */
  readonly liveHandles: number;
  /** Device buffers holding this backend's tensors (what `liveCount()` says). */
  readonly liveBuffers: number;
}

export interface WebGpuOptions {
  /** Defaults to "gpu.js webgpu #<n>", n counting the backends made in this realm. */
  readonly name?: string;
}

export interface WebGpuBackend extends AsyncBackend {
  readonly mode: 'webgpu';
  readonly adapterInfo: AdapterInfo;
  /** The device's limits this backend works under (gpu.js asks the adapter for its largest). */
  readonly limits: { readonly maxStorageBufferBindingSize: number; readonly maxBufferSize: number; readonly maxComputeWorkgroupsPerDimension: number };
  upload(t: Tensor): Handle;
  download(h: Handle): Promise<Tensor>;
  dispose(h: Handle): void;
  liveCount(): number;
  reshape(x: Handle, shape: Shape): Handle;
  /** Settles once every kernel submitted so far has run on the device. */
  sync(): Promise<void>;
  kernelCount(): number;
  stats(): WebGpuStats;
  /** Frees every kernel and tensor of this backend (and the device, with the last backend); unusable afterwards. */
  destroy(): Promise<void>;
}

class WebGpuHandle implements Handle {
  constructor(
    readonly owner: Backend,
    readonly shape: Shape,
    public store: BufferResult | null,
  ) {}
}

/** Compiled kernels kept (least recently used first out); far more than a network of fixed shapes uses. */
export const MAX_CACHED_KERNELS = 512;

let made = 0;
let alive = 0;

class WebGpuJsBackend implements WebGpuBackend {
  readonly mode = 'webgpu' as const;
  readonly adapterInfo: AdapterInfo;
  private readonly gpu: InstanceType<typeof G.GPU>;
  private readonly kernels = new Map<string, Kernel>();
  /** Device buffers of this backend's tensors, each freed when its last handle goes. */
  private readonly buffers = new Set<GpuBuffer>();
  private handles = 0;
  private dead = false;
  private counters = { runs: 0, uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0 };

  constructor(readonly name: string, private readonly context: WebGpuContext) {
    this.adapterInfo = Object.freeze(adapterInfoOf(context.adapter as unknown as GPUAdapter));
    this.gpu = new G.GPU({ mode: 'webgpu' });
    alive++;
  }

  get limits() {
    const l = this.context.device.limits;
    return { maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension };
  }

  // ---- handles and buffers ---------------------------------------------------------------------

  private usable(): void {
    if (this.dead) fail('BackendError', `${this.name} was destroyed; its tensors are gone`);
    if (this.context.isLost) fail('BackendError', `${this.name}: the WebGPU device was lost; its tensors are gone`);
  }

  private store(h: Handle): BufferResult {
    if (h.owner !== (this as unknown)) throw new Error(`a tensor of ${h.owner.name} was handed to ${this.name}; move it with transfer() first`);
    this.usable();
    const s = (h as WebGpuHandle).store;
    if (!s) fail('BackendError', `a tensor ${shapeString(h.shape)} of ${this.name} was used after it was disposed`);
    return s!;
  }

  private make(shape: Shape, s: BufferResult): Handle {
    this.handles++;
    return new WebGpuHandle(this as unknown as Backend, Object.freeze([...shape]), s);
  }

  /** Drops one reference to a result; its buffer is destroyed with the last. */
  private release(r: BufferResult): void {
    r.delete();
    if (r.buffer._refs === 0) this.buffers.delete(r.buffer);
  }

  private checkSize(bytes: number, what: string): void {
    const l = this.context.device.limits;
    const max = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
    if (bytes > max) fail('BackendError', `${this.name}: ${what} needs ${bytes} bytes, past this device's ${max} per storage buffer`);
  }

  /** A device buffer of `n` floats as a pipeline result gpu.js kernels take as an argument. */
  private result(buffer: GpuBuffer, n: number): BufferResult {
    const r = new G.WebGPUBufferResult({ buffer, output: [n], context: this.context, kernel: null });
    this.buffers.add(buffer);
    return r;
  }

  private uploadFloats(data: Float32Array): BufferResult {
    this.usable();
    this.checkSize(data.byteLength, `a tensor of ${data.length} values`);
    const buffer = this.context.device.createBuffer({ size: Math.max(4, data.byteLength), usage: STORAGE | COPY_SRC | COPY_DST });
    this.context.device.queue.writeBuffer(buffer, 0, data);
    this.counters.uploads++;
    this.counters.uploadBytes += data.byteLength;
    return this.result(buffer, data.length);
  }

  private async read(r: BufferResult, n: number): Promise<Float32Array> {
    const bytes = n * 4;
    const device = this.context.device;
    const staging = device.createBuffer({ size: Math.max(4, bytes), usage: MAP_READ | COPY_DST });
    try {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(r.buffer, 0, staging, 0, bytes);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_MODE_READ, 0, bytes);
      const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      this.counters.downloads++;
      this.counters.downloadBytes += bytes;
      return out;
    } finally {
      staging.destroy();
    }
  }

  // ---- kernels ----------------------------------------------------------------------------------

  private kernel(given: K.KernelSource): Kernel {
    if (given.native || given.subKernels || given.globals || given.returns === 'Array(4)') {
      throw new Error(`internal: kernel '${given.name}' is a GL kernel; WebGPU runs the one-output kernels`);
    }
    // gpu.js dispatches 8 x 8 x 1 threads a workgroup on a 2-D or 3-D grid; past the device's workgroups per axis, the grid goes flat.
    const most = this.context.device.limits.maxComputeWorkgroupsPerDimension;
    const [X, Y = 1, Z = 1] = given.output;
    const src = given.output.length > 1 && (Math.ceil(X / 8) > most || Math.ceil(Y / 8) > most || Z > most) ? K.flatGrid(given) : given;
    const key = `${src.output.join('x')}\n${src.source}`;
    let k = this.kernels.get(key);
    if (k) {
      // Most recently used last, for the eviction below.
      this.kernels.delete(key);
      this.kernels.set(key, k);
      return k;
    }
    k = this.gpu.createKernel(src.source, {
      output: [...src.output], pipeline: true, immutable: true, precision: 'single', dynamicOutput: false, dynamicArguments: false,
    });
    this.kernels.set(key, k);
    if (this.kernels.size > MAX_CACHED_KERNELS) {
      // Results are taken over from their kernels (see run), so nothing alive needs an evicted one.
      const [oldest, old] = this.kernels.entries().next().value as [string, Kernel];
      this.kernels.delete(oldest);
      old.destroy(true);
    }
    return k;
  }

  /** Runs `src` on `args` (compiling it on first use); the result stays on the device. */
  private async run(src: K.KernelSource, args: readonly unknown[]): Promise<BufferResult> {
    this.usable();
    const k = this.kernel(src);
    let r: unknown;
    try {
      r = await k(...args);
    } catch (e) {
      throw new Error(`gpu.js kernel '${src.name}' (grid ${src.output.join('x')}) failed in webgpu mode: ${firstLine(e)}`);
    }
    const ran = k.kernel;
    if (!(ran instanceof G.WebGPUKernel)) {
      fail('BackendError', `gpu.js ran kernel '${src.name}' as a ${ran?.constructor?.name ?? 'unknown'}, not as a WebGPU kernel`);
    }
    if (!(r instanceof G.WebGPUBufferResult)) {
      fail('BackendError', `gpu.js kernel '${src.name}' returned ${Object.prototype.toString.call(r)} instead of a WebGPU buffer`);
    }
    const result = r as BufferResult;
    // gpu.js holds the kernel's latest result buffer until the kernel runs again; take it
    // over, so that disposing the handle destroys the buffer now.
    if (ran.outputBuffer === result.buffer) {
      ran.outputBuffer = null;
      ran.bindGroupDirty = true;
      result.buffer._refs!--;
    }
    this.buffers.add(result.buffer);
    this.counters.runs++;
    return result;
  }

  private async runTo(src: K.KernelSource, shape: Shape, args: readonly unknown[]): Promise<Handle> {
    if (sizeOf(src.output) !== sizeOf(shape)) throw new Error(`internal: kernel ${src.name} makes ${sizeOf(src.output)} values for ${shapeString(shape)}`);
    return this.make(shape, await this.run(src, args));
  }

  /** Runs kernels on temporaries, released once `body` settles. */
  private async withTemps<R>(body: (keep: (r: BufferResult) => BufferResult) => Promise<R>): Promise<R> {
    const temps: BufferResult[] = [];
    try {
      return await body((r) => { temps.push(r); return r; });
    } finally {
      for (const t of temps) this.release(t);
    }
  }

  // ---- memory --------------------------------------------------------------------------------------

  upload(t: Tensor): Handle {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    return this.make(t.shape, this.uploadFloats(data));
  }

  async download(h: Handle): Promise<Tensor> {
    return Tensor.trusted(h.shape, await this.read(this.store(h), sizeOf(h.shape)));
  }

  dispose(h: Handle): void {
    if (h.owner !== (this as unknown)) throw new Error(`a tensor of ${h.owner.name} was handed to ${this.name}; move it with transfer() first`);
    const g = h as WebGpuHandle;
    if (!g.store) return;
    if (!this.dead) this.release(g.store);
    g.store = null;
    this.handles--;
  }

  liveCount(): number {
    return this.buffers.size;
  }

  async sync(): Promise<void> {
    this.usable();
    await this.context.device.queue.onSubmittedWorkDone();
  }

  kernelCount(): number {
    return this.kernels.size;
  }

  stats(): WebGpuStats {
    return { ...this.counters, kernels: this.kernels.size, liveHandles: this.handles, liveBuffers: this.buffers.size };
  }

  async destroy(): Promise<void> {
    if (this.dead) return;
    this.dead = true;
    for (const k of this.kernels.values()) k.destroy(true);
    this.kernels.clear();
    for (const b of this.buffers) b.destroy();
    this.buffers.clear();
    this.gpu.destroy();
    if (--alive === 0) await G.WebGPUContext.destroy();
  }

  // ---- shape plumbing ------------------------------------------------------------------------------

  reshape(x: Handle, shape: Shape): Handle {
    const s = this.store(x);
    if (sizeOf(shape) !== sizeOf(x.shape)) shapeFail(`cannot reshape ${shapeString(x.shape)} (${sizeOf(x.shape)} values) to ${shapeString(shape)}`);
    return this.make(shape, s.clone());
  }

  concat(xs: readonly Handle[]): Promise<Handle> {
    const stores = xs.map((x) => this.store(x));
    const shape = concatShape(xs.map((x) => x.shape));
    return this.runTo(K.concat(xs.map((x) => x.shape)), shape, stores);
  }

  slice(x: Handle, start: number, count: number): Promise<Handle> {
    const s = this.store(x);
    return this.runTo(K.slice(x.shape, start, count), sliceShape(x.shape, start, count), [s]);
  }

  add(a: Handle, b: Handle): Promise<Handle> {
    const args = [this.store(a), this.store(b)];
    checkSameShapes('add needs equal shapes', a.shape, b.shape);
    return this.runTo(K.add(sizeOf(a.shape)), a.shape, args);
  }

  // ---- convolution ---------------------------------------------------------------------------------

  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Promise<Handle> {
    const args = [this.store(x), this.store(w), this.store(b)];
    const yShape = convShape(x.shape, w.shape, p);
    checkConvBias(b.shape, w.shape);
    return this.runTo(K.conv2d(K.GLSL, x.shape, w.shape, p), yShape, args);
  }

  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Promise<Handle> {
    const args = [this.store(dy), this.store(w)];
    checkConvGradient(dy.shape, convShape(xShape, w.shape, p));
    return this.runTo(K.conv2dGradInput(K.GLSL, dy.shape, w.shape, xShape, p), xShape, args);
  }

  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Promise<Handle> {
    const args = [this.store(x), this.store(dy)];
    checkConvGradient(dy.shape, convShape(x.shape, wShape, p));
    return this.runTo(K.conv2dGradFilter(K.GLSL, x.shape, dy.shape, wShape, p), wShape, args);
  }

  biasGrad(dy: Handle): Promise<Handle> {
    const s = this.store(dy);
    if (dy.shape.length < 2) shapeFail(`biasGrad takes [N, F, ...], got ${shapeString(dy.shape)}`);
    return this.runTo(K.biasGrad(K.GLSL, dy.shape), [dy.shape[1]], [s]);
  }

  // ---- fully connected -------------------------------------------------------------------------------

  linear(x: Handle, w: Handle, b: Handle): Promise<Handle> {
    const args = [this.store(x), this.store(w), this.store(b)];
    return this.runTo(K.linear(K.GLSL, x.shape, w.shape), checkLinear(x.shape, w.shape, b.shape), args);
  }

  linearGradInput(dy: Handle, w: Handle): Promise<Handle> {
    const args = [this.store(dy), this.store(w)];
    return this.runTo(K.linearGradInput(K.GLSL, dy.shape, w.shape), checkLinearGradInput(dy.shape, w.shape), args);
  }

  linearGradWeight(x: Handle, dy: Handle): Promise<Handle> {
    const args = [this.store(x), this.store(dy)];
    return this.runTo(K.linearGradWeight(K.GLSL, x.shape, dy.shape), checkLinearGradWeight(x.shape, dy.shape), args);
  }

  // ---- nonlinearities and normalisation ----------------------------------------------------------

  relu(x: Handle): Promise<Handle> {
    return this.runTo(K.relu(sizeOf(x.shape)), x.shape, [this.store(x)]);
  }

  reluGrad(y: Handle, dy: Handle): Promise<Handle> {
    const args = [this.store(y), this.store(dy)];
    checkSameShapes('reluGrad needs y and dy of one shape', y.shape, dy.shape);
    return this.runTo(K.reluGrad(sizeOf(y.shape)), y.shape, args);
  }

  lrn(x: Handle, p: LrnParams): Promise<Handle> {
    const s = this.store(x);
    checkLrn(x.shape, p);
    return this.runTo(K.lrn(K.GLSL, x.shape, p.n), x.shape, [s, p.k, p.alpha, p.beta]);
  }

  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Promise<Handle> {
    const [xs, dys] = [this.store(x), this.store(dy)];
    checkLrn(x.shape, p);
    checkSameShapes('lrnGrad needs x and dy of one shape', x.shape, dy.shape);
    return this.withTemps(async (keep) => {
      const s = keep(await this.run(K.lrnBase(K.GLSL, x.shape, p.n), [xs, p.k, p.alpha]));
      const t = keep(await this.run(K.lrnCross(sizeOf(x.shape)), [xs, dys, s, p.beta]));
      return this.runTo(K.lrnGrad(K.GLSL, x.shape, p.n), x.shape, [xs, dys, s, t, p.alpha, p.beta]);
    });
  }

  maxPool(x: Handle, p: PoolParams): Promise<Handle> {
    const s = this.store(x);
    return this.runTo(K.maxPool(K.GLSL, x.shape, p), poolShape(x.shape, p), [s]);
  }

  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Promise<Handle> {
    const [xs, dys] = [this.store(x), this.store(dy)];
    const yShape = poolShape(x.shape, p);
    if (dy.shape.join() !== yShape.join()) shapeFail(`dy ${shapeString(dy.shape)} is not the pooled shape ${shapeString(yShape)}`);
    return this.withTemps(async (keep) => {
      const arg = keep(await this.run(K.maxPoolArgmax(K.GLSL, x.shape, p), [xs]));
      return this.runTo(K.maxPoolGrad(K.GLSL, x.shape, p), x.shape, [arg, dys]);
    });
  }

  // ---- dropout ---------------------------------------------------------------------------------------

  dropout(x: Handle, mask: Handle): Promise<Handle> {
    const args = [this.store(x), this.store(mask)];
    checkSameShapes('dropout needs x and its mask of one shape', x.shape, mask.shape);
    return this.runTo(K.multiply('dropout', sizeOf(x.shape)), x.shape, args);
  }

  dropoutGrad(dy: Handle, mask: Handle): Promise<Handle> {
    const args = [this.store(dy), this.store(mask)];
    checkSameShapes('dropoutGrad needs dy and the mask of one shape', dy.shape, mask.shape);
    return this.runTo(K.multiply('dropoutGrad', sizeOf(dy.shape)), dy.shape, args);
  }

  // ---- loss and update ---------------------------------------------------------------------------------

  /**
   * The probabilities and the gradient stay on the device; the loss is read
   * back (N numbers, averaged on the host) and comes as a promise, so the
   * kernels after it need not wait for the read.
   */
  async softmaxCrossEntropy(logits: Handle, labels: Int32Array): Promise<AsyncLossResult> {
    const z = this.store(logits);
    const [N, Kc] = checkLoss(logits.shape, labels);
    const temps: BufferResult[] = [];
    const keep = (r: BufferResult): BufferResult => { temps.push(r); return r; };
    const releaseTemps = (): void => { for (const t of temps.splice(0)) this.release(t); };
    let probs: Handle | undefined;
    try {
      const lab = keep(this.uploadFloats(Float32Array.from(labels)));
      const top = keep(await this.run(K.logitMax(K.GLSL, logits.shape), [z]));
      const sum = keep(await this.run(K.logitSumExp(K.GLSL, logits.shape), [z, top]));
      probs = await this.runTo(K.softmax(logits.shape), logits.shape, [z, top, sum]);
      const dlogits = await this.runTo(K.softmaxGrad(logits.shape), logits.shape, [this.store(probs), lab, 1 / N]);
      const rows = keep(await this.run(K.crossEntropy(logits.shape), [z, lab, top, sum]));
      const loss = this.read(rows, N).then((perRow) => {
        let l = 0;
        for (let n = 0; n < N; n++) l += perRow[n];
        return l / N;
      }).finally(releaseTemps);
      // Whoever takes the result awaits the loss; this only keeps a failed read from being reported twice.
      loss.catch(() => {});
      return { loss, probs, dlogits };
    } catch (e) {
      if (probs) this.dispose(probs);
      releaseTemps();
      throw e;
    }
  }

  async sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): Promise<{ w: Handle; v: Handle }> {
    const args = [this.store(w), this.store(v), this.store(g)];
    if (w.shape.join() !== v.shape.join() || w.shape.join() !== g.shape.join()) {
      shapeFail(`sgdUpdate needs w, v, g of one shape, got ${shapeString(w.shape)}, ${shapeString(v.shape)}, ${shapeString(g.shape)}`);
    }
    const n = sizeOf(w.shape);
    const vNext = await this.runTo(K.sgdVelocity(n), w.shape, [...args, p.momentum, p.weightDecay * p.lr, p.lr]);
    try {
      return { w: await this.runTo(K.sgdWeight(n), w.shape, [args[0], this.store(vNext)]), v: vNext };
    } catch (e) {
      this.dispose(vNext);
      throw e;
    }
  }
}

/**
 * One WebGPU device (gpu.js's, shared by the backends of this thread) as an
 * asynchronous backend. Fails with a BackendError naming the reason when no
 * adapter answers (see webgpuAvailability, webgpuEnvironment).
 */
export const createWebGpuBackend = async (options: WebGpuOptions = {}): Promise<WebGpuBackend> => {
  const a = await webgpuAvailability();
  if (!a.available) fail('BackendError', `gpu.js mode 'webgpu' is not available: ${a.reason}`);
  let context: WebGpuContext;
  try {
    context = await G.WebGPUContext.acquire();
  } catch (e) {
    return fail('BackendError', `gpu.js could not get a WebGPU device: ${firstLine(e)}`);
  }
  const name = options.name ?? `gpu.js webgpu #${made}`;
  made++;
  return new WebGpuJsBackend(name, context);
};
