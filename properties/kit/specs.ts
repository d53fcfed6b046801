/**
 * Backends by name, for `alexnet verify --backend SPEC`:
 *
 *   reference          the reference backend (float64 loops; the default oracle)
 *   cpu                the fast CPU backend (float32, wasm SIMD products, worker threads)
 *   gpu                gpu.js, the best mode that works here (headless GL, else webasm, else cpu)
 *   gpu:headlessgl     gpu.js on headless GL (fails with the reason when GL is missing)
 *   gpu:headlessgl:direct  the same with the direct convolution kernels, which GL uses
 *                      when the unrolled input of a lowered convolution would be too large
 *   gpu:webasm         gpu.js compiled to WebAssembly
 *   gpu:webgpu         gpu.js on WebGPU (Dawn in Node), in a tower process of its own
 *   gpu:cpu            gpu.js's plain JavaScript mode
 *   tfjs-cpu           TensorFlow.js's kernels (backends/tfjs), on its cpu backend
 *   tfjs-wasm          ... on its wasm (XNNPACK) backend
 *   tfjs-webgl         ... on its webgl backend, over a headless-gl context
 *   tfjs-webgpu        ... on its webgpu backend (reads awaited, in a tower process of its own)
 *   ort-node           ONNX Runtime's kernels (backends/ort), onnxruntime-node's CPU provider
 *   ort-wasm           ... onnxruntime-web's wasm backend; both forward only: the
 *                      backward kernels and the update are 'not offered'
 *   ./path/to/mod.ts   a module of your own whose createBackend() returns a Backend
 *                      or an AsyncBackend (or a promise of either); .ts, .js or .mjs.
 *                      One whose answers are promises runs in a worker thread of
 *                      its own (a tower) that awaits them in order.
 *
 * Two specs separated by a comma are a two-tower placement for the network
 * phase. Every problem with a spec, or with making its backend, is one
 * ArgumentError line naming the spec and the fix (the CLI exits 2).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RemoteBackend } from '../../backends/remote/backend.ts';
import type { Backend, Handle } from '../../core/backend.ts';
import { Tensor } from '../../core/tensor.ts';
import { AlexnetFailure, argumentError } from '../../core/errors.ts';
import { createReferenceBackend } from '../../reference/index.ts';
import { adapterOfFacts } from '../../backends/webgpu/node.ts';
import { BASICS } from './kernels.ts';

export const BUILTIN_SPECS = ['reference', 'cpu', 'gpu', 'gpu:headlessgl', 'gpu:headlessgl:direct', 'gpu:webasm', 'gpu:webgpu', 'gpu:cpu', 'tfjs-cpu', 'tfjs-wasm', 'tfjs-webgl', 'tfjs-webgpu', 'ort-node', 'ort-wasm'] as const;
export type BuiltinSpec = (typeof BUILTIN_SPECS)[number];

export interface Made {
  readonly spec: string;
  readonly backend: Backend;
  /** What really runs, in words (the gpu.js mode, TensorFlow.js's backend and flags, the module's path). */
  readonly detail: string;
  /** Releases the backend's context (GPU contexts, worker threads). */
  readonly close: () => void;
}

const usage = (msg: string): never => { throw new AlexnetFailure(argumentError(msg)); };
/** A backend that cannot be made: nothing was verified, so it is a usage error too (exit code 2). */
const broken = usage;

const isModulePath = (spec: string): boolean => /[\\/]/.test(spec) || /\.(m?[jt]s)$/.test(spec);

/** Splits "a,b" into one or two specs, checking each names a backend. */
export const parsePlacement = (flag: string, text: string): string[] => {
  const specs = text.split(',').map((s) => s.trim());
  if (specs.length > 2 || specs.some((s) => s === '')) {
    return usage(`${flag} '${text}' is not a backend spec; give one spec, or two separated by a comma for a two-tower placement (e.g. gpu,gpu or reference,gpu)`);
  }
  for (const s of specs) {
    if (!isModulePath(s) && !(BUILTIN_SPECS as readonly string[]).includes(s)) {
      usage(`${flag}: '${s}' is not a backend; give one of ${BUILTIN_SPECS.join(', ')}, or a path to a module (./my-backend.ts) whose createBackend() returns a Backend`);
    }
  }
  // tfjs-webgpu runs in a process of its own.
  const tf = new Set(specs.filter((s) => s.startsWith('tfjs-') && s !== 'tfjs-webgpu'));
  if (tf.size > 1) usage(`${flag} '${text}': TensorFlow.js runs one backend per process; verify ${[...tf].join(' and ')} in separate runs`);
  return specs;
};

/** Checks that `b` has the basics every backend needs; names what is missing. */
export const checkBackendShape = (b: unknown, what: string): Backend => {
  if (typeof b !== 'object' || b === null) return broken(`${what} returned ${b === null ? 'null' : typeof b}, not a Backend object`);
  const lacking = [...BASICS, 'name'].filter((m) => (m === 'name' ? typeof (b as Record<string, unknown>).name !== 'string' : typeof (b as Record<string, unknown>)[m] !== 'function'));
  if (lacking.length) return broken(`${what} returned an object that is not a Backend: it has no ${lacking.join(', ')} (see core/backend.ts: every backend needs a name, upload, download, dispose and liveCount; kernels it lacks are reported as missing)`);
  return b as Backend;
};

const loadModule = async (spec: string, name: string): Promise<Made> => {
  const file = isAbsolute(spec) ? spec : resolve(process.cwd(), spec);
  if (!existsSync(file)) return broken(`--backend ${spec}: no such file (${file})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    return broken(`--backend ${spec}: the module threw while loading: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
  }
  const make = mod.createBackend ?? (mod.default as Record<string, unknown> | undefined)?.createBackend;
  if (typeof make !== 'function') {
    return broken(`--backend ${spec}: the module exports no createBackend function (exports: ${Object.keys(mod).join(', ') || 'none'}); export \`createBackend(): Backend | AsyncBackend | Promise<either>\``);
  }
  let b: unknown;
  try {
    b = await (make as (name: string) => unknown)(name);
  } catch (e) {
    return broken(`--backend ${spec}: createBackend() threw: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
  }
  const backend = checkBackendShape(b, `--backend ${spec}: createBackend()`);
  const close = (backend as { destroy?: () => unknown }).destroy;
  if (!(await answersLater(backend, spec))) {
    return { spec, backend, detail: `${backend.name} (module ${file})`, close: () => close?.call(backend) };
  }
  // Its answers are promises: it runs in a tower of its own, which awaits them in order.
  await close?.call(backend);
  const { createTower } = await import('../../backends/remote/index.ts');
  return inTower(spec, () => createTower({ module: pathToFileURL(file).href, factory: 'createBackend', options: name }, { in: 'thread' }),
    (t) => `${t.name} (module ${file}; its answers are promises, so it runs in a worker thread of its own that awaits them in order)`);
};

/** The spec's backend in a tower (which `start` starts), or one line saying why the tower did not start. */
const inTower = (spec: string, start: () => RemoteBackend, detail: (t: RemoteBackend) => string): Made => {
  let t: RemoteBackend;
  try {
    t = start();
  } catch (e) {
    return broken(`--backend ${spec}: ${(e as Error).message.split('\n')[0]}`);
  }
  return { spec, backend: t, detail: detail(t), close: () => t.close() };
};

/**
 * Whether a backend answers with promises (an `AsyncBackend`): its upload or
 * the download of what it uploaded is a promise. The probe's handle is
 * disposed again.
 */
const answersLater = async (b: Backend, spec: string): Promise<boolean> => {
  const thenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown })?.then === 'function';
  try {
    const up: unknown = b.upload(Tensor.trusted([1], new Float32Array([1])));
    const h = (thenable(up) ? await up : up) as Handle;
    const down: unknown = b.download(h);
    const later = thenable(up) || thenable(down);
    if (thenable(down)) await down;
    await b.dispose(h);
    return later;
  } catch (e) {
    return broken(`--backend ${spec}: uploading and downloading one number failed: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
  }
};

/** Makes the backend a spec names. `name` labels it (towers, oracle). */
export const makeBackend = async (spec: string, name: string): Promise<Made> => {
  if (isModulePath(spec)) return loadModule(spec, name);
  switch (spec) {
    case 'reference':
      return { spec, backend: createReferenceBackend(name), detail: 'reference (float64 loops)', close: () => {} };
    case 'cpu': {
      const { createCpuBackend } = await import('../../backends/cpu/index.ts');
      const b = createCpuBackend({ name });
      return { spec, backend: b, detail: `cpu backend (float32, wasm SIMD products, ${b.threads} thread${b.threads === 1 ? '' : 's'})`, close: () => {} };
    }
    case 'gpu': case 'gpu:headlessgl': case 'gpu:headlessgl:direct': case 'gpu:webasm': case 'gpu:cpu': {
      const { createGpuBackend } = await import('../../backends/gpujs/index.ts');
      const [, mode = 'auto', convolution = 'auto'] = spec.split(':') as [string, 'auto' | 'headlessgl' | 'webasm' | 'cpu', 'auto' | 'direct'];
      let b;
      try {
        b = createGpuBackend({ mode, name, convolution });
      } catch (e) {
        return broken(`--backend ${spec}: ${(e as Error).message}${mode === 'headlessgl' && !process.env.DISPLAY ? ' (headless GL needs an X server: run under xvfb-run -a)' : ''}`);
      }
      const g = b;
      return { spec, backend: g, detail: `gpu.js, mode ${g.mode}${convolution === 'direct' ? ', direct convolutions' : ''}${g.passedOver ? ` (auto passed over: ${g.passedOver})` : ''}`, close: () => g.destroy() };
    }
    case 'tfjs-cpu': case 'tfjs-wasm': case 'tfjs-webgl': {
      const { createTfjsBackend } = await import('../../backends/tfjs/index.ts');
      let b;
      try {
        b = await createTfjsBackend(spec.slice(5) as 'cpu' | 'wasm' | 'webgl', name);
      } catch (e) {
        return broken(`--backend ${spec}: ${(e as Error).message.split('\n')[0]}`);
      }
      return { spec, backend: b, detail: b.detail, close: () => {} };
    }
    case 'gpu:webgpu': case 'tfjs-webgpu': {
      const { gpuWebgpuRecipe, tfjsWebgpuRecipe, webgpuTower } = await import('../../backends/remote/index.ts');
      return inTower(spec, () => webgpuTower(spec === 'gpu:webgpu' ? gpuWebgpuRecipe(name) : tfjsWebgpuRecipe(name), name),
        (t) => `${spec === 'gpu:webgpu' ? `gpu.js, mode webgpu, on ${adapterOfFacts(t.facts)}` : t.facts.detail} (in a process of its own)`);
    }
    case 'ort-node': case 'ort-wasm': {
      const provider = spec.slice(4) as 'node' | 'wasm';
      const { loadOrt } = await import('../../backends/ort/index.ts');
      try {
        await loadOrt(provider); // a missing package: its one line, before any thread starts
      } catch (e) {
        return broken((e as Error).message);
      }
      // ONNX Runtime answers with promises: its adapter runs in a tower thread that awaits them.
      const { createTower, ortRecipe } = await import('../../backends/remote/index.ts');
      return inTower(spec, () => createTower(ortRecipe({ provider, name }), { in: 'thread', name }), (t) => `${t.facts.detail ?? spec} (in a worker thread of its own)`);
    }
    default:
      return usage(`'${spec}' is not a backend; give one of ${BUILTIN_SPECS.join(', ')} or a path to a module`);
  }
};
