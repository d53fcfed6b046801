/**
 * Selecting and initialising a TensorFlow.js backend in this process: `cpu`
 * (plain JavaScript), `wasm` (XNNPACK), `webgl` on a headless-gl context, or
 * `webgpu` (in Node on Dawn's `navigator.gpu`, backends/webgpu/node.ts).
 * Shared by the TensorFlow.js adapter (backends/tfjs/index.ts) and the bench's
 * TensorFlow.js peers (bench/peers/tfjs.ts).
 *
 * TensorFlow.js is an optional (dev) dependency: every TensorFlow.js module is
 * imported dynamically, so importing this file needs none of them, and
 * `setupTfjs` says in one line what to install when they are missing.
 *
 * Only one TensorFlow.js backend is active per process (`tf.setBackend` is
 * global); `setupTfjs` makes `which` the active one.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import { adapterInfoOf, describeAdapter, navigatorGpu, requestAdapter, type AdapterInfo } from '../webgpu/node.ts';
import { createGl, describeGl } from './gl.ts';

export type TfjsBackend = 'cpu' | 'wasm' | 'webgl' | 'webgpu';

export interface TfjsSetup {
  readonly backend: TfjsBackend;
  /** What ran, in words: the backend and its relevant flags (SIMD, threads, GL renderer). */
  readonly detail: string;
  /** The GL renderer when the backend draws with GL. */
  readonly gl?: string;
  /** The WebGPU adapter, on webgpu. */
  readonly adapter?: AdapterInfo;
}

const require = createRequire(import.meta.url);

export const TFJS_MISSING =
  'TensorFlow.js is not installed: npm install @tensorflow/tfjs @tensorflow/tfjs-backend-wasm @tensorflow/tfjs-backend-webgl';

/** A TensorFlow.js package is missing (not some other failure while loading it). */
const isMissingTfjs = (e: unknown): boolean => {
  const err = e as { code?: string; message?: string };
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && /@tensorflow\//.test(err.message ?? '');
};

const load = async <T>(f: () => Promise<T>): Promise<T> => {
  try {
    return await f();
  } catch (e) {
    throw isMissingTfjs(e) ? new Error(TFJS_MISSING) : e;
  }
};

/**
 * tfjs-core, with the op gradients and the cpu backend registered: those come
 * with the @tensorflow/tfjs package (what a user installs), not tfjs-core alone.
 */
const loadTf = async (): Promise<typeof TF> => {
  const tf = await load(() => import('@tensorflow/tfjs-core'));
  await load(() => import('@tensorflow/tfjs'));
  return tf;
};

/**
 * TensorFlow.js's wasm backend has no kernel for the filter gradient of a
 * convolution (Conv2DBackpropFilter), so training on it fails without one.
 * This supplies it from the backend's own kernels:
 *
 *   dW[a, b, ci, co] = sum_{n, i, j} x[n, a + i*s - p, b + j*s - p, ci] * dy[n, i, j, co]
 *
 * is a convolution of x seen as [ci, H, W, n] (a batch of ci images with n
 * channels) with dy seen as the filter [OH, OW, n, co], at stride 1, padding p
 * and dilation s; its first kh x kw outputs, transposed to [kh, kw, ci, co],
 * are the filter gradient. Registering it twice is a no-op.
 */
export const registerWasmConvFilterGrad = async (): Promise<void> => {
  const tf = await loadTf();
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  const k = (name: string) => {
    const cfg = tf.getKernel(name, 'wasm');
    if (!cfg) throw new Error(`TensorFlow.js wasm has no ${name} kernel`);
    return cfg.kernelFunc;
  };
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: TF.TensorInfo; dy: TF.TensorInfo };
      const a = attrs as unknown as { strides: number | [number, number]; pad: number | string; filterShape: [number, number, number, number]; dataFormat?: string };
      if (typeof a.pad !== 'number') throw new Error(`Conv2DBackpropFilter on wasm here takes numeric padding, got '${a.pad}'`);
      if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter on wasm here takes NHWC');
      const s = typeof a.strides === 'number' ? a.strides : a.strides[0];
      const [kh, kw, ci, co] = a.filterShape;
      const be = backend as unknown as { disposeData(id: TF.DataId): boolean };
      const run = (name: string, ins: Record<string, TF.TensorInfo>, at: Record<string, unknown>) =>
        k(name)({ inputs: ins, backend, attrs: at as TF.NamedAttrMap }) as TF.TensorInfo;
      const xt = run('Transpose', { x }, { perm: [3, 1, 2, 0] });
      const dyt = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
      // Explicit padding, not the number: with a numeric pad TensorFlow.js sizes
      // the output from the filter's height alone (it assumes square filters),
      // and dy as a filter is [OH, OW], not square when OH != OW.
      const pad = [[0, 0], [a.pad, a.pad], [a.pad, a.pad], [0, 0]];
      const c = run('Conv2D', { x: xt, filter: dyt }, { strides: [1, 1], pad, dilations: [s, s], dataFormat: 'NHWC', dimRoundingMode: undefined });
      const cut = c.shape[1] === kh && c.shape[2] === kw ? c : run('Slice', { x: c }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
      const out = run('Transpose', { x: cut }, { perm: [1, 2, 0, 3] });
      for (const t of new Set([xt, dyt, c, cut])) be.disposeData(t.dataId);
      return out;
    },
  });
};

/**
 * TensorFlow.js's WebGL backend on a headless-gl context. In Node the backend
 * never registers itself (it looks for a browser), so it is registered here
 * with a GPGPUContext over the `gl` package's context. headless-gl is WebGL 1
 * with OES_texture_float, so the flags that TensorFlow.js would probe from a
 * canvas are set from what the context offers. Returns the GL renderer in
 * words. Registering happens once per process; later calls make webgl the
 * active backend again.
 */
let webglOnce: Promise<string> | undefined;

export const setupHeadlessWebgl = async (): Promise<string> => {
  const tf = await loadTf();
  const gl = await (webglOnce ??= registerHeadlessWebgl(tf));
  if (tf.getBackend() !== 'webgl' && !(await tf.setBackend('webgl'))) throw new Error('TensorFlow.js webgl backend did not initialise on the headless-gl context');
  return gl;
};

const registerHeadlessWebgl = async (tf: typeof TF): Promise<string> => {
  const { GPGPUContext, MathBackendWebGL } = await load(() => import('@tensorflow/tfjs-backend-webgl'));
  const made = createGl(1, 1);
  if ('error' in made) throw new Error(made.error);
  const gl = made.gl;
  if (!gl.getExtension('OES_texture_float')) throw new Error('headless-gl offers no OES_texture_float; TensorFlow.js WebGL 1 needs float textures');
  // TensorFlow.js listens for context loss on the canvas; headless-gl has none.
  (gl as Record<string, unknown>).canvas = { width: 1, height: 1, addEventListener: () => {}, removeEventListener: () => {} };
  // headless-gl (8.1.6) answers null when an array uniform is asked for by its
  // bare name ('start'), which WebGL defines as its element 0 ('start[0]').
  // TensorFlow.js asks by the bare name (Slice's `start`, and tensors of up to
  // WEBGL_SIZE_UPLOAD_UNIFORM values uploaded as uniform arrays), so without
  // this those uniforms are never set and read as 0: non-contiguous slices
  // ignore their begin, and kernels fed tiny tensors compute with zeros.
  const location = (gl.getUniformLocation as (p: unknown, name: string) => unknown).bind(gl);
  (gl as Record<string, unknown>).getUniformLocation = (p: unknown, name: string) =>
    location(p, name) ?? (name.endsWith(']') ? null : location(p, `${name}[0]`));
  const env = tf.env();
  env.set('WEBGL_VERSION', 1);
  env.set('WEBGL_RENDER_FLOAT32_CAPABLE', true);
  env.set('WEBGL_RENDER_FLOAT32_ENABLED', true);
  env.set('WEBGL_DOWNLOAD_FLOAT_ENABLED', true);
  env.set('WEBGL_FENCE_API_ENABLED', false);
  env.set('WEBGL_CHECK_NUMERICAL_PROBLEMS', false);
  env.set('WEBGL_MAX_TEXTURE_SIZE', gl.getParameter(gl.MAX_TEXTURE_SIZE) as number);
  env.set('WEBGL_MAX_TEXTURES_IN_SHADER', gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS) as number);
  tf.registerBackend('webgl', () => new MathBackendWebGL(new GPGPUContext(gl as unknown as ConstructorParameters<typeof GPGPUContext>[0])), 2);
  if (!(await tf.setBackend('webgl'))) throw new Error('TensorFlow.js webgl backend did not initialise on the headless-gl context');
  // A small product checks that the context computes and reads back floats.
  const got = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 2, 3, 4], [2, 2])).dataSync());
  if (![7, 10, 15, 22].every((v, i) => Math.abs(got[i] - v) < 1e-5)) throw new Error(`TensorFlow.js webgl on headless-gl computes wrong values (got ${Array.from(got)})`);
  return describeGl(gl);
};

/**
 * Selects and initialises a TensorFlow.js backend in this process. Throws one
 * line naming the packages to install when TensorFlow.js is not installed.
 */
export const setupTfjs = async (which: TfjsBackend): Promise<TfjsSetup> => {
  const tf = await loadTf();
  if (which === 'cpu') {
    await load(() => import('@tensorflow/tfjs-backend-cpu'));
    if (!(await tf.setBackend('cpu'))) throw new Error('TensorFlow.js cpu backend did not initialise');
    return { backend: which, detail: `tfjs-core ${tf.version_core}, cpu backend (plain JavaScript)` };
  }
  if (which === 'wasm') {
    const wasm = await load(() => import('@tensorflow/tfjs-backend-wasm'));
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    await registerWasmConvFilterGrad();
    if (!(await tf.setBackend('wasm'))) throw new Error('TensorFlow.js wasm backend did not initialise');
    await tf.ready();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return {
      backend: which,
      detail: `tfjs-core ${tf.version_core}, wasm backend (XNNPACK, SIMD ${simd ? 'on' : 'off'}, ${threads ? 'multi-threaded' : '1 thread'}; Conv2DBackpropFilter supplied by this project from wasm's own kernels)`,
    };
  }
  if (which === 'webgpu') {
    // TensorFlow.js asks navigator.gpu for its adapter when the backend is first set.
    await navigatorGpu();
    const adapter = adapterInfoOf(await requestAdapter());
    await load(() => import('@tensorflow/tfjs-backend-webgpu'));
    if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js webgpu backend did not initialise');
    await tf.ready();
    return { backend: which, detail: `tfjs-core ${tf.version_core}, webgpu backend on ${describeAdapter(adapter)}; reads are await tensor.data()`, adapter };
  }
  const gl = await setupHeadlessWebgl();
  return { backend: which, detail: `tfjs-core ${tf.version_core}, webgl backend on headless-gl (WebGL 1, ${gl})`, gl };
};
