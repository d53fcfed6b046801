/**
 * One gpu.js context: the `GPU` instance, the mode it really runs in, the
 * cache of compiled kernels, and the accounting of device memory.
 *
 * - Mode. 'headlessgl' (Node), 'webgl2' and 'webgl' (a browser) run GLSL on a
 *   GL context of their own (one context per `Device`, so two devices are two
 *   GPUs as far as the program can tell; gl-host.ts makes them, and the page's
 *   build swaps in gl-host.browser.ts); 'webasm' and 'cpu' run the same
 *   kernels on the host. Every kernel call
 *   checks that gpu.js really ran it in the device's mode: gpu.js degrades a
 *   kernel it cannot build to its cpu backend, and that must be an error here,
 *   never a quiet slowdown.
 * - Kernels are keyed by their source (which carries every size) and output
 *   grid, built on first use and reused for the device's life.
 * - On GL, results are pipeline textures (`pipeline: true`), packed four floats
 *   to a texel (`optimizeFloatMemory`), and `immutable: true`, so a kernel's next
 *   run never overwrites a result someone still holds. On webasm and cpu a
 *   result is a flat Float32Array.
 * - Every GL texture the context creates or deletes is counted, kernel-owned
 *   ones included, so a leak shows as a growing count.
 */
import { CPUKernel, GPU, HeadlessGLKernel, type IKernelRunShortcut, Texture, WebAssemblyKernel, WebGL2Kernel, WebGLKernel } from 'gpu.js';
import { GLTextureArray4Float3D } from 'gpu.js/src/backend/gl/texture/array-4-float-3d.js';
import { GLTextureMemoryOptimized3D } from 'gpu.js/src/backend/gl/texture/memory-optimized-3d.js';
import { backendError, fail } from '../../core/errors.ts';
import { createGlContext, destroyGlContext, glAvailability, HOST_GL_MODES } from './gl-host.ts';
import { type Availability, type GLContext, type GlInfo, type GlMode, glInfoOf } from './gl-types.ts';
import type { KernelSource } from './kernels.ts';

export type { Availability, GlInfo, GlMode } from './gl-types.ts';
export type GpuMode = GlMode | 'webasm' | 'cpu';
export type GpuModeRequest = 'auto' | GpuMode;
export const GPU_MODES: readonly GpuMode[] = ['headlessgl', 'webgl2', 'webgl', 'webasm', 'cpu'];
export const GL_MODES: readonly GlMode[] = ['headlessgl', 'webgl2', 'webgl'];

/** Whether a mode runs GLSL on a GL context (headless-gl in Node, WebGL2 or WebGL in a browser). */
export const isGlMode = (mode: GpuMode): mode is GlMode => (GL_MODES as readonly string[]).includes(mode);

/** What a device holds for one tensor: a GL texture, or a flat host array. */
export type Store = Texture | Float32Array;

/**
 * gpu.js's own classes for the two texture kinds a kernel here makes on a 3-D
 * grid: a packed float texture (four consecutive values a texel) and a texel
 * of four values a thread (Array(4) results). `vec4View` and `packedView` make
 * one kind out of the other without copying; they must be these classes, as a
 * compiled kernel refuses an argument of another class than its first one.
 * (gpu.js is pinned to 2.24.1 in package.json, which has them at these paths.)
 */
type TextureClass = new (settings: object) => Texture;
const PackedTexture = GLTextureMemoryOptimized3D as unknown as TextureClass;
const Vec4Texture = GLTextureArray4Float3D as unknown as TextureClass;

/** Whether gpu.js can run on headless GL here, and if not, why. */
export const headlessGlAvailability = (): Availability => glAvailability('headlessgl');

export const webAssemblyAvailability = (): Availability =>
  GPU.isWebAssemblySupported
    ? { available: true, reason: null }
    : { available: false, reason: 'this JavaScript engine has no WebAssembly with SIMD' };

export const availability = (mode: GpuMode): Availability =>
  isGlMode(mode) ? glAvailability(mode) : mode === 'webasm' ? webAssemblyAvailability() : { available: true, reason: null };

/**
 * The mode a request resolves to here, and why auto-selection passed over
 * better ones: the host's GL modes first (headless GL in Node; WebGL2, then
 * WebGL, in a browser), then webasm, then cpu.
 */
export const resolveMode = (request: GpuModeRequest): { mode: GpuMode; passedOver: string | null } => {
  if (request !== 'auto' && !GPU_MODES.includes(request)) {
    fail('ArgumentError', `gpu.js mode '${String(request)}' is not one of auto, ${GPU_MODES.join(', ')}`);
  }
  if (request !== 'auto') {
    const a = availability(request);
    if (!a.available) fail('BackendError', `gpu.js mode '${request}' is not available: ${a.reason}`);
    return { mode: request, passedOver: null };
  }
  const passed: string[] = [];
  for (const mode of [...HOST_GL_MODES, 'webasm', 'cpu'] as GpuMode[]) {
    const a = availability(mode);
    if (a.available) return { mode, passedOver: passed.length ? passed.join('; ') : null };
    passed.push(`${mode}: ${a.reason}`);
  }
  return { mode: 'cpu', passedOver: passed.join('; ') };
};

/** The mode gpu.js really runs a kernel in. */
export const modeOfKernel = (k: unknown): string => {
  if (k instanceof HeadlessGLKernel) return 'headlessgl';
  if (k instanceof WebGL2Kernel) return 'webgl2';
  if (k instanceof WebGLKernel) return 'webgl';
  if (k instanceof WebAssemblyKernel) return 'webasm';
  if (k instanceof CPUKernel) return 'cpu';
  return (k as { constructor?: { name?: string } })?.constructor?.name ?? 'unknown';
};

export interface DeviceCounters {
  /** Kernels compiled (one per distinct source and output grid). */
  kernels: number;
  runs: number;
  uploads: number;
  uploadBytes: number;
  downloads: number;
  downloadBytes: number;
}

const KERNEL_SETTINGS = {
  pipeline: true,
  immutable: true,
  precision: 'single',
  tactic: 'precision',
  optimizeFloatMemory: true,
  fixIntegerDivisionAccuracy: true,
  dynamicOutput: false,
  // Argument texture sizes are baked into the shader as constants, which lets the
  // compiler turn gpu.js's index-to-texel divisions into multiplications (twice
  // as fast as sizes in uniforms). That is safe because a kernel's source fixes
  // the length of every argument, and a packed texture's size follows from its
  // length alone; `run` checks it anyway.
  dynamicArguments: false,
} as const;

const sizeOfGrid = (output: readonly number[]): number => output.reduce((a, b) => a * b, 1);

/** Nested per-row arrays (what webasm and cpu give for 2-D and 3-D grids) into one flat array. */
const flatten = (r: unknown, size: number, what: string): Float32Array => {
  if (r instanceof Float32Array && r.length === size) return r;
  const out = new Float32Array(size);
  let at = 0;
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array || v instanceof Float64Array) {
      out.set(v, at);
      at += v.length;
    } else if (Array.isArray(v)) {
      for (const e of v) walk(e);
    } else if (typeof v === 'number') {
      out[at++] = v;
    } else {
      fail('BackendError', `gpu.js kernel ${what} returned ${Object.prototype.toString.call(v)}, not numbers`);
    }
  };
  walk(r);
  if (at !== size) fail('BackendError', `gpu.js kernel ${what} returned ${at} values, expected ${size}`);
  return out;
};

/** Compiled kernels a webasm or cpu device keeps (see Device.evictOldest); far more than a network of fixed shapes uses. */
export const MAX_CACHED_KERNELS = 512;

export class Device {
  readonly gpu: GPU;
  private readonly context: GLContext | null = null;
  /** What the GL context says of itself (null off GL). */
  readonly glInfo: GlInfo | null = null;
  private readonly gl: boolean;
  private readonly kernels = new Map<string, IKernelRunShortcut>();
  /** The texture size of each texture argument at a kernel's first call. */
  private readonly argSizes = new Map<string, string>();
  private liveTextures = 0;
  private dead = false;
  readonly counters: DeviceCounters = { kernels: 0, runs: 0, uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0 };

  constructor(readonly mode: GpuMode) {
    this.gl = isGlMode(mode);
    if (isGlMode(mode)) {
      const made = createGlContext(mode);
      if ('reason' in made) fail('BackendError', `gpu.js could not make a ${mode} context: ${made.reason}`);
      const { context: ctx, canvas } = made as { context: GLContext; canvas: unknown };
      this.context = ctx;
      this.glInfo = glInfoOf(ctx);
      // Count every texture the context makes and frees, kernel-owned ones included.
      const create0 = ctx.createTexture.bind(ctx);
      const delete0 = ctx.deleteTexture.bind(ctx);
      ctx.createTexture = () => { this.liveTextures++; return create0(); };
      ctx.deleteTexture = (t: unknown) => { if (t) this.liveTextures--; delete0(t); };
      type Settings = NonNullable<ConstructorParameters<typeof GPU>[0]>;
      this.gpu = new GPU({ mode, context: ctx as unknown as Settings['context'], ...(canvas ? { canvas: canvas as Settings['canvas'] } : {}) });
    } else {
      this.gpu = new GPU({ mode });
    }
  }

  /** GL textures alive in this context (null off GL). */
  textureCount(): number | null {
    return this.context ? this.liveTextures : null;
  }

  /** Runs `src` (compiling it on first use) and returns its result as a device store. */
  run(src: KernelSource, args: readonly unknown[]): Store {
    if (src.subKernels) fail('BackendError', `internal: kernel '${src.name}' has several results; use runMany`);
    const r = this.call(src, args);
    if (this.gl) return this.texture(r, src.name);
    return flatten(r, sizeOfGrid(src.output), src.name);
  }

  /** Runs a kernel with sub-kernels (GL only): its main result, then one per sub-kernel. */
  runMany(src: KernelSource, args: readonly unknown[]): Store[] {
    if (!this.gl || !src.subKernels) fail('BackendError', `internal: runMany is for GL kernels with sub-kernels ('${src.name}')`);
    const r = this.call(src, args) as Record<string, unknown>;
    return [r.result, ...src.subKernels!.map((_, i) => r[i])].map((t) => this.texture(t, src.name));
  }

  private texture(r: unknown, name: string): Texture {
    if (!(r instanceof Texture)) fail('BackendError', `gpu.js kernel '${name}' returned ${Object.prototype.toString.call(r)} instead of a texture`);
    return r as Texture;
  }

  private call(src: KernelSource, args: readonly unknown[]): unknown {
    if (this.dead) fail('BackendError', 'this gpu.js backend was destroyed');
    const extra = [...(src.native ?? []).map((f) => f.source), src.globals ?? '', ...(src.subKernels ?? [])].join('\n');
    const key = `${src.output.join('x')}\n${src.source}\n${extra}`;
    let k = this.kernels.get(key);
    if (k && !this.gl) {
      // Most recently used last, for the eviction below.
      this.kernels.delete(key);
      this.kernels.set(key, k);
    }
    if (!k) {
      // Every grid is 3-D ([n] runs as [n, 1, 1]): gpu.js compiles a kernel for
      // one texture class per argument (1-D, 2-D and 3-D results are different
      // classes) and will not take a 2-D result where it first saw a 1-D one.
      const grid = [src.output[0], src.output[1] ?? 1, src.output[2] ?? 1];
      const settings = {
        ...KERNEL_SETTINGS, optimizeFloatMemory: src.returns !== 'Array(4)', output: grid,
        ...(src.native ? { nativeFunctions: src.native.map((f) => ({ name: f.name, source: this.glsl(f.source) })) } : {}),
      };
      // gpu.js takes globals per GPU instance and reads them when it builds a kernel.
      (this.gpu as unknown as { injectedNative: string | null }).injectedNative = src.globals ?? null;
      k = src.subKernels
        ? (this.gpu as unknown as { createKernelMap(s: readonly string[], f: string, o: object): IKernelRunShortcut }).createKernelMap(src.subKernels, src.source, settings)
        : this.gpu.createKernel(src.source, settings);
      this.kernels.set(key, k);
      this.counters.kernels++;
      if (!this.gl && this.kernels.size > MAX_CACHED_KERNELS) this.evictOldest();
    }
    if (this.gl) {
      const sizes = args.map((a) => (a instanceof Texture ? String((a as unknown as { size: ArrayLike<number> }).size) : '-')).join(';');
      const first = this.argSizes.get(key);
      if (first === undefined) this.argSizes.set(key, sizes);
      else if (first !== sizes) fail('BackendError', `internal: kernel '${src.name}' was compiled for argument textures ${first} and is now given ${sizes}`);
    }
    let r: unknown;
    try {
      r = (k as unknown as (...a: unknown[]) => unknown)(...args);
    } catch (e) {
      const types = args.map((a) => (a instanceof Texture ? (a as unknown as { type: string }).type : a?.constructor?.name ?? typeof a));
      throw new Error(`gpu.js kernel '${src.name}' (grid ${src.output.join('x')}, arguments ${types.join(', ')}) failed in ${this.mode} mode: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.counters.runs++;
    const ran = modeOfKernel((k as unknown as { kernel: unknown }).kernel);
    if (ran !== this.mode) {
      const why = (k as unknown as { kernel: { fallbackReason?: string | null } }).kernel.fallbackReason;
      fail('BackendError', `gpu.js ran kernel '${src.name}' in ${ran} mode, not ${this.mode}${why ? `: ${why}` : ''}`);
    }
    return r;
  }

  /**
   * Native functions are written in GLSL ES 1.0 (WebGL, headless-gl); WebGL2's
   * GLSL ES 3.0 names the texture fetch `texture`.
   */
  private glsl(source: string): string {
    return this.mode === 'webgl2' ? source.replace(/\btexture2D\(/g, 'texture(') : source;
  }

  /** A device copy of host values. */
  upload(data: Float32Array, copyKernel: KernelSource): Store {
    this.counters.uploads++;
    this.counters.uploadBytes += data.byteLength;
    return this.gl ? this.run(copyKernel, [data]) : data.slice();
  }

  /** The first `size` values of a store, as a new host array. */
  download(s: Store, size: number): Float32Array {
    this.counters.downloads++;
    this.counters.downloadBytes += size * 4;
    if (s instanceof Float32Array) return s.slice(0, size);
    // A packed texture holds the values in index order, four to a texel.
    const raw = (s as unknown as { renderRawOutput(): Float32Array }).renderRawOutput();
    if (!raw || raw.length < size) fail('BackendError', `reading back a texture gave ${raw?.length ?? 0} values, expected at least ${size}`);
    return raw.slice(0, size);
  }

  /**
   * A texture of packed floats seen as texels of four: read `t[i]` in a kernel
   * and get values 4i .. 4i+3 in one fetch. Its length is that of the grid
   * that made it. Shares the memory; release the view after the kernel that
   * reads it.
   */
  vec4View(s: Store): Store {
    const t = s as Texture & { type: string; output: number[] };
    if (!(s instanceof Texture) || t.type !== 'MemoryOptimizedNumberTexture') fail('BackendError', 'internal: vec4View takes a packed float texture');
    return this.view(Vec4Texture, t, Math.ceil(sizeOfGrid(t.output) / 4), 'ArrayTexture(4)');
  }

  /**
   * The result of an Array(4) kernel on the grid [ceil(size/4)] seen as `size`
   * packed floats: texel t holds values 4t .. 4t+3, which is the packed layout,
   * and both textures have the size gpu.js gives ceil(size/4) texels. Takes
   * the result over (it is released here).
   */
  packedView(s: Store, size: number): Store {
    const t = s as Texture & { type: string; output: number[] };
    if (!(s instanceof Texture) || t.type !== 'ArrayTexture(4)' || t.output[0] !== Math.ceil(size / 4) || t.output[1] !== 1 || t.output[2] !== 1) {
      fail('BackendError', `internal: packedView takes an Array(4) result on the grid [${Math.ceil(size / 4)}, 1, 1]`);
    }
    const v = this.view(PackedTexture, t, size, 'MemoryOptimizedNumberTexture');
    t.delete();
    return v;
  }

  private view(cls: TextureClass, t: Texture, length: number, type: string): Texture {
    const f = t as unknown as Record<string, unknown>;
    return new cls({
      texture: f.texture, size: f.size, context: f.context, kernel: f.kernel,
      internalFormat: f.internalFormat, textureFormat: f.textureFormat,
      dimensions: [length, 1, 1], output: [length, 1, 1], type,
    });
  }

  /** Another reference to the same device memory (freed when every reference is). */
  share(s: Store): Store {
    return s instanceof Float32Array ? s : s.clone();
  }

  release(s: Store): void {
    if (!(s instanceof Float32Array)) s.delete();
  }

  kernelCount(): number {
    return this.kernels.size;
  }

  /**
   * Destroys the least recently used kernel. Off GL every compiled kernel holds
   * a WebAssembly.Memory of its own, and the engine can reserve only so many
   * (about ten thousand: "could not allocate memory"), so a process that meets
   * many shapes keeps the last MAX_CACHED_KERNELS. A kernel's results are host
   * arrays, so nothing alive refers to an evicted kernel; it is compiled again
   * if its shape comes back. On GL a result is read back through the kernel
   * that made it (gpu.js reads a texture through its kernel's framebuffer), so
   * GL kernels stay for the context's life: a process that meets many
   * thousands of shapes on GL grows by megabytes a kernel (llvmpipe's compiled
   * shaders): run `alexnet verify` at many times its case count on GL one
   * kernel at a time (`--kernels`).
   */
  private evictOldest(): void {
    const [key, k] = this.kernels.entries().next().value as [string, IKernelRunShortcut];
    this.kernels.delete(key);
    this.argSizes.delete(key);
    (k as unknown as { destroy(remove?: boolean): void }).destroy(true);
  }

  /** Frees every kernel and the GL context. Stores made here are invalid afterwards. */
  get destroyed(): boolean {
    return this.dead;
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    for (const k of this.kernels.values()) (k as unknown as { destroy(remove?: boolean): void }).destroy(true);
    this.kernels.clear();
    if (this.context) destroyGlContext(this.context);
  }
}
