/**
 * WebGPU where there is no browser: Node gets `navigator.gpu` from Dawn's
 * bindings (the `webgpu` package, 0.6.2 or newer; gpu.js's own pin, 0.2.9,
 * needs a newer C++ runtime than Debian 12's). Dawn runs on a Vulkan driver;
 * on a machine without a GPU, the software one that Debian's `chromium`
 * package ships (SwiftShader, /usr/lib/chromium) serves. Debian 12's lavapipe
 * gives Dawn no adapter.
 *
 * The dynamic loader reads LD_LIBRARY_PATH when a process starts, so the
 * driver's environment (`webgpuEnvironment`) is given to a process of its own:
 * a WebGPU backend runs in a tower process (backends/remote) started with it.
 *
 * In a browser `navigator.gpu` is the browser's, and nothing here is used.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** SwiftShader's Vulkan driver, as Debian's chromium package installs it (libvulkan.so.1 beside it). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Where Vulkan's loader looks for the system's drivers. */
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

/** The system's Vulkan drivers, less lavapipe (which gives Dawn no adapter on Debian 12). */
const systemDrivers = (): string[] =>
  ICD_DIRS.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json') && !f.startsWith('lvp_')).map((f) => `${d}/${f}`) : []));

/**
 * What a process needs in its environment for Dawn to find a Vulkan driver:
 * nothing where the caller chose one (VK_ICD_FILENAMES, VK_DRIVER_FILES) or the
 * system has one of its own; else SwiftShader from chromium, where installed.
 */
export const webgpuEnvironment = (env: NodeJS.ProcessEnv = process.env): Record<string, string> => {
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || systemDrivers().length > 0 || !existsSync(SWIFTSHADER_ICD)) return {};
  const lib = dirname(SWIFTSHADER_ICD);
  return { VK_ICD_FILENAMES: SWIFTSHADER_ICD, LD_LIBRARY_PATH: [lib, ...(env.LD_LIBRARY_PATH ? [env.LD_LIBRARY_PATH] : [])].join(':') };
};

/** Whether this process was started with the environment `webgpuEnvironment` asks for. */
export const hasWebgpuEnvironment = (env: NodeJS.ProcessEnv = process.env): boolean =>
  Object.entries(webgpuEnvironment(env)).every(([k, v]) => env[k] === v);

/** What an adapter says of itself, for reports. */
export interface AdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** A software adapter (SwiftShader, WARP) rather than a GPU. */
  readonly isFallbackAdapter: boolean;
}

export const adapterInfoOf = (adapter: GPUAdapter): AdapterInfo => {
  const i = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    isFallbackAdapter: Boolean(i.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
};

/** "SwiftShader driver 5.0.0 (google swiftshader, fallback adapter)"; in a browser, which says less, "google swiftshader (fallback adapter)". */
export const describeAdapter = (a: AdapterInfo): string => {
  const who = [a.vendor, a.architecture].filter(Boolean).join(' ');
  const what = a.description || a.device;
  const fallback = a.isFallbackAdapter ? 'fallback adapter' : '';
  if (what) return `${what}${who || fallback ? ` (${[who, fallback].filter(Boolean).join(', ')})` : ''}`;
  return `${who || 'a WebGPU adapter'}${fallback ? ` (${fallback})` : ''}`;
};

/** Why no adapter answered, in one line with the fix. */
const noAdapterReason = (): string => {
  if (typeof process === 'undefined' || process.platform !== 'linux') return 'no WebGPU adapter: no usable GPU driver was found';
  const env = webgpuEnvironment();
  if (Object.keys(env).length > 0 && !hasWebgpuEnvironment()) {
    return `no WebGPU adapter: Dawn found no Vulkan driver in this process; start it with ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} (webgpuEnvironment())`;
  }
  const chosen = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (chosen) return `no WebGPU adapter: Dawn found no usable Vulkan driver in ${chosen}`;
  const drivers = systemDrivers();
  return drivers.length > 0
    ? `no WebGPU adapter: Dawn could not use the Vulkan drivers ${drivers.join(', ')}`
    : 'no WebGPU adapter: Dawn found no Vulkan driver here; install Debian\'s chromium (SwiftShader\'s driver, used where no GPU driver is installed) or a GPU\'s Vulkan driver';
};

/**
 * `navigator.gpu`: the browser's, or in Node Dawn's, installed on
 * `globalThis.navigator` (with the WebGPU globals, GPUBufferUsage and the rest)
 * so that libraries that look for it there (gpu.js, TensorFlow.js) find it.
 */
export const navigatorGpu = async (): Promise<GPU> => {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  let dawn: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (e) {
    throw new Error(`the webgpu package (Dawn for Node) did not load: ${(e as Error).message.split('\n')[0]}; npm install webgpu@0.6.2`);
  }
  const gpu = dawn.create([]);
  Object.assign(globalThis, dawn.globals);
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return gpu;
};

/** An adapter, or one line saying why there is none. Each device needs an adapter of its own (Dawn: an adapter makes one device). */
export const requestAdapter = async (): Promise<GPUAdapter> => {
  const adapter = await (await navigatorGpu()).requestAdapter().catch(() => null);
  if (!adapter) throw new Error(noAdapterReason());
  return adapter;
};

/** Whether WebGPU answers in this process, and if not, why. */
export const webgpuAvailability = async (): Promise<{ available: boolean; reason: string | null; adapter: AdapterInfo | null }> => {
  try {
    const a = await requestAdapter();
    return { available: true, reason: null, adapter: adapterInfoOf(a) };
  } catch (e) {
    return { available: false, reason: (e as Error).message, adapter: null };
  }
};

/** A tower's adapter, in words, from the facts it reported ('adapter.vendor', ...; backends/remote/server.ts). */
export const adapterOfFacts = (f: Readonly<Record<string, string | number | boolean | null>>): string => {
  const text = (k: string) => (typeof f[`adapter.${k}`] === 'string' ? (f[`adapter.${k}`] as string) : '');
  return describeAdapter({ vendor: text('vendor'), architecture: text('architecture'), device: text('device'), description: text('description'), isFallbackAdapter: f['adapter.isFallbackAdapter'] === true });
};
