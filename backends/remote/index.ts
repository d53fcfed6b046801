/**
 * Towers that run side by side: a backend in a worker thread or a process of
 * its own (./client.ts), and recipes for the project's own backends. A
 * placement of two of them is an ordinary placement:
 *
 *   const placement = [0, 1].map((t) => createTower(gpuRecipe({ mode: 'headlessgl' }), { in: 'process', name: `tower ${t}` }));
 *   const net = Network.create(spec, params, placement);
 *
 * and the executor runs the towers concurrently, the other tower's maps at
 * conv3, fc6, fc7 and fc8 passed straight between them.
 */
import { availableParallelism } from 'node:os';
import type { CpuOptions } from '../cpu/index.ts';
import type { GpuBackendOptions } from '../gpujs/index.ts';
import { webgpuEnvironment } from '../webgpu/node.ts';
import { createRemoteBackend, type RemoteBackend, type TowerOptions } from './client.ts';
import type { BackendRecipe } from './protocol.ts';

export { RemoteBackend, type TowerOptions } from './client.ts';
export type { BackendRecipe } from './protocol.ts';

/** A module beside this one, as the tower will import it: .ts in the source tree, .js in the compiled package. */
const sibling = (rel: string): string => {
  const url = new URL(rel, import.meta.url);
  return import.meta.url.endsWith('.js') ? url.href.replace(/\.ts$/, '.js') : url.href;
};

export const cpuRecipe = (options: CpuOptions = {}): BackendRecipe => ({ module: sibling('../cpu/index.ts'), factory: 'createCpuBackend', options });
export const gpuRecipe = (options: GpuBackendOptions = {}): BackendRecipe => ({ module: sibling('../gpujs/index.ts'), factory: 'createGpuBackend', options });
export const referenceRecipe = (name?: string): BackendRecipe => ({ module: sibling('../../reference/index.ts'), factory: 'createReferenceBackend', options: name });
/** gpu.js's WebGPU mode (backends/gpujs/webgpu.ts), an asynchronous backend: run it with `webgpuTower`. */
export const gpuWebgpuRecipe = (name?: string): BackendRecipe => ({ module: sibling('../gpujs/webgpu.ts'), factory: 'createWebGpuBackend', options: { name } });
export const tfjsWebgpuRecipe = (name?: string): BackendRecipe => ({ module: sibling('../tfjs/index.ts'), factory: 'createTfjsWebgpuBackend', options: name });
export const ortRecipe = (options: { provider: 'node' | 'wasm'; name?: string; threads?: number }): BackendRecipe => ({ module: sibling('../ort/index.ts'), factory: 'createOrtBackend', options });

/**
 * A WebGPU backend's tower: a process of its own, started with what Dawn needs
 * to find a Vulkan driver here (backends/webgpu/node.ts); each such process
 * asks for an adapter and a device of its own.
 */
export const webgpuTower = (recipe: BackendRecipe, name?: string): RemoteBackend =>
  createTower(recipe, { in: 'process', env: webgpuEnvironment(), name });

/** gpu.js's WebGPU mode on one device, in a tower process of its own. */
export const webgpuDevice = (name = 'gpu.js webgpu'): RemoteBackend => webgpuTower(gpuWebgpuRecipe(name), name);

/**
 * The paper's two towers on gpu.js's WebGPU mode, side by side: a process per
 * tower, each with a device of its own (each asks for an adapter of its own:
 * an adapter makes one device; on one GPU both adapters are the same GPU's).
 */
export const webgpuTowers = (names: TowerNames = ['gpu.js webgpu tower 0', 'gpu.js webgpu tower 1']): [RemoteBackend, RemoteBackend] =>
  towers(webgpuDevice, names);

/** Starts one tower: the recipe's backend in a worker thread or a process of its own. */
export const createTower = (recipe: BackendRecipe, options: TowerOptions): RemoteBackend => createRemoteBackend(recipe, options);

/** The cores each of two towers gets: half the machine's, at least one. */
export const coresPerTower = (): number => Math.max(1, Math.floor(availableParallelism() / 2));

/**
 * The paper's two towers on gpu.js, side by side: a process per tower (headless
 * GL loads in one thread per process), each with its own GL context. Each
 * context keeps Mesa llvmpipe's own thread count (LP_NUM_THREADS, else one per
 * core): on two cores, two threads per tower ran 1.0-1.2x faster than one
 * (inference b1 and b16, training b1; training b8 the same).
 */
export const gpuTowers = (options: Omit<GpuBackendOptions, 'name'> = {}, names: TowerNames = ['gpu.js tower 0', 'gpu.js tower 1']): [RemoteBackend, RemoteBackend] =>
  towers((name) => createTower(gpuRecipe({ ...options, name }), { in: 'process' }), names);

/** The two towers on the cpu backend, side by side: a worker thread per tower, each sharing its kernels between half the cores. */
export const cpuTowers = (options: Omit<CpuOptions, 'name'> = {}, names: TowerNames = ['cpu tower 0', 'cpu tower 1']): [RemoteBackend, RemoteBackend] =>
  towers((name) => createTower(cpuRecipe({ threads: options.threads ?? coresPerTower(), name }), { in: 'thread' }), names);

export type TowerNames = readonly [string, string];

/** Starts both towers, closing the first if the second cannot start. */
const towers = (make: (name: string) => RemoteBackend, names: TowerNames): [RemoteBackend, RemoteBackend] => {
  const a = make(names[0]);
  try {
    return [a, make(names[1])];
  } catch (e) {
    a.close();
    throw e;
  }
};
