/**
 * TensorFlow.js's kernels as a `Backend` of this project (core/backend.ts), on
 * one of its backends: `cpu` (plain JavaScript), `wasm` (XNNPACK) or `webgl`
 * (on a headless-gl context; run under `xvfb-run -a` without a display); and
 * on `webgpu` as an `AsyncBackend`, read as its users read it (`await
 * tensor.data()`), which runs in a tower of its own (`createTfjsWebgpuBackend`).
 *
 *   const tfw = await createTfjsBackend('wasm');   // or throws one line saying why not
 *   tfw.detail                                     // the backend and its flags, in words
 *
 * So that a verdict on this backend (the property suite, `alexnet verify`) is
 * a verdict on TensorFlow.js's kernels, every kernel is TensorFlow.js's own:
 * the forward kernels are public ops (tf.conv2d with numeric padding,
 * tf.maxPool 'valid', tf.localResponseNormalization, tf.relu, tf.matMul,
 * tf.sum, tf.softmax, tf.losses.softmaxCrossEntropy, ...), and the backward
 * kernels are the ones TensorFlow.js's own gradients run, called by name
 * through `tf.engine().runKernel`: Conv2DBackpropInput, Conv2DBackpropFilter,
 * MaxPoolGrad and LRNGrad (each given the forward's output where it takes
 * one); the ReLU gradient is TensorFlow.js's own formula dy * step(x), and the
 * logits' gradient is tf.grad of TensorFlow.js's loss.
 *
 * What the adapter adds around TensorFlow.js, and nothing else:
 * - layout transposes: handles hold our NCHW layout (filters [F, C/groups, k, k]);
 *   conv, pool and LRN kernels transpose to NHWC (filters [k, k, Cg, Fg]) and back;
 * - group slicing: TensorFlow.js convolutions have no groups, so groups > 1 (and
 *   both gradients) run per group on channel slices, concatenated (ops.ts);
 * - a host-built one-hot of the labels (on headless-gl's WebGL 1, tf.oneHot of
 *   int32 reads every label as 0);
 * - the paper's SGD update composed of tf ops, v' = momentum v - weightDecay lr w
 *   - lr g; w' = w + v'. TensorFlow.js's own tf.train.momentum has another form
 *   (v' = momentum v + g; w' = w - lr v', weight decay not in the update), so it
 *   is not used;
 * - on wasm, which has no Conv2DBackpropFilter kernel, that kernel registered
 *   from wasm's own Transpose, Conv2D and Slice kernels (setup.ts), as the
 *   bench's TensorFlow.js peer has it; `detail` says so.
 *
 * Handles are `{ shape, owner, t }` with `t` a float32 tf.Tensor. Every kernel
 * runs inside tf.tidy, so no intermediate tensor outlives it; `liveCount()` is
 * tf.memory().numTensors, the whole process's, so a leak check catches the
 * adapter's leaks too. A kernel that TensorFlow.js lacks on the backend throws
 * "TensorFlow.js <backend> has no <Kernel> kernel (needed by <kernel>)".
 *
 * tf.setBackend is global: only one TensorFlow.js backend is active per
 * process. Making an adapter activates its backend; its kernels throw if
 * another was activated since.
 *
 * Where TensorFlow.js 4.22 differs from the reference (kept, not papered over):
 * - MaxPoolGrad on wasm starts each window's running maximum at FLT_MIN (the
 *   smallest positive float) and keeps the last of equal values, so a window
 *   whose maximum is <= 0 sends its gradient to the wrong place or nowhere, and
 *   ties go to the last maximum; on webgl ties go to the last maximum too. The
 *   reference routes to the first maximum. (After a ReLU, a window whose
 *   maximum is 0 is all zeros and the ReLU's gradient zeroes that part anyway;
 *   ties between equal positive values do move a network's gradient.)
 * - LRNGrad on webgl fails to compile its shader when beta is an integer (the
 *   shader reads `-1.0 * 1`, float times int); AlexNet's beta is 0.75.
 */
import type { AsyncBackend, Backend } from '../../core/backend.ts';
import { setupTfjs, type TfjsBackend } from './setup.ts';

export type { TfjsBackend, TfjsSetup } from './setup.ts';
export { setupTfjs, TFJS_MISSING } from './setup.ts';

export type TfjsBackendAdapter = Backend & { readonly detail: string; readonly tfBackend: string };

/**
 * The Backend over TensorFlow.js's `which` backend, made the active one in this
 * process. Throws one line when TensorFlow.js (or, for webgl, headless GL) is
 * missing. `name` defaults to "TensorFlow.js <which>".
 */
export const createTfjsBackend = async (which: TfjsBackend, name?: string): Promise<Backend & { readonly detail: string; readonly tfBackend: string }> => {
  const setup = await setupTfjs(which);
  const { TfjsKernels } = await import('./kernels.ts');
  return new TfjsKernels(which, setup.detail, name ?? `TensorFlow.js ${which}`);
};

/**
 * TensorFlow.js's webgpu backend as an `AsyncBackend`: the same kernels as the
 * other backends', every read `await tensor.data()` (webgpu offers no
 * synchronous read in a browser; in Node its dataSync happens to answer, but a
 * verdict should be on the path its users take). A tower serves it:
 *
 *   createTower({ module: '.../backends/tfjs/index.ts', factory: 'createTfjsWebgpuBackend', options: 'TensorFlow.js webgpu' },
 *               { in: 'process', env: webgpuEnvironment() })
 */
export const createTfjsWebgpuBackend = async (name?: string): Promise<AsyncBackend & { readonly detail: string; readonly adapterInfo?: object }> => {
  const setup = await setupTfjs('webgpu');
  const { TfjsKernels } = await import('./kernels.ts');
  const k = new TfjsKernels('webgpu', setup.detail, name ?? 'TensorFlow.js webgpu');
  const bound = Object.fromEntries(
    Object.getOwnPropertyNames(Object.getPrototypeOf(k))
      .filter((m) => m !== 'constructor' && typeof (k as unknown as Record<string, unknown>)[m] === 'function')
      .map((m) => [m, ((k as unknown as Record<string, (...a: unknown[]) => unknown>)[m]).bind(k)]),
  );
  return {
    ...(bound as unknown as AsyncBackend),
    name: k.name,
    detail: k.detail,
    adapterInfo: setup.adapter,
    download: (h) => k.downloadLater(h),
    softmaxCrossEntropy: (logits, labels) => k.softmaxCrossEntropyLater(logits, labels),
  };
};
