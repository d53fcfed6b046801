/**
 * Choosing where the network runs: `--backend auto|gpu|cpu|reference` and
 * `--towers 1|2` (one context running the grouped network, or one context per
 * tower running side by side, as the paper's two GPUs).
 *
 * 'auto' takes the gpu.js backend when it runs in headless GL here (under
 * `xvfb-run -a`), else the fast CPU backend, else the reference, and says why
 * it passed over the better ones. 'gpu:webgpu' is gpu.js's WebGPU mode, an
 * asynchronous backend, in a tower process per context (backends/remote),
 * each with a device of its own. The other backends are imported only when
 * asked for, so a missing or broken one cannot stop the reference from working.
 */
import type { Backend } from '../core/backend.ts';
import { AlexnetFailure, backendError } from '../core/errors.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { adapterOfFacts } from '../backends/webgpu/node.ts';

export const BACKENDS = ['auto', 'gpu', 'gpu:webgpu', 'cpu', 'reference'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface Chosen {
  readonly placement: Backend[];
  /** In words: "cpu (2 threads), one context (grouped towers)". */
  readonly description: string;
  /** Why 'auto' passed over better backends (null if it did not). */
  readonly note: string | null;
}

type Maker = (name: string) => Backend;

const loadGpu = async (): Promise<{ make: Maker } | { reason: string }> => {
  try {
    const m = await import('../backends/gpujs/index.ts');
    const a = m.headlessGlAvailability();
    if (!a.available) return { reason: a.reason ?? 'headless GL is not available' };
    return { make: (name) => m.createGpuBackend({ mode: 'headlessgl', name }) };
  } catch (e) {
    return { reason: `the gpu.js backend did not load (${(e as Error).message})` };
  }
};

const loadCpu = async (): Promise<{ make: Maker; label: string } | { reason: string }> => {
  try {
    const m = await import('../backends/cpu/index.ts');
    const threads = m.defaultThreadCount();
    return { make: (name) => m.createCpuBackend({ name, threads }), label: `cpu (${threads} thread${threads === 1 ? '' : 's'})` };
  } catch (e) {
    return { reason: `the fast CPU backend did not load (${(e as Error).message})` };
  }
};

/**
 * Two towers side by side, as the paper's two GPUs: gpu.js a process per
 * tower, the cpu backend a worker thread per tower (backends/remote). The
 * reference stays in this thread, one tower after the other.
 */
const sideBySide = async (label: string): Promise<Backend[] | null> => {
  if (label === 'reference') return null;
  const r = await import('../backends/remote/index.ts');
  const names = [`${label} tower 0`, `${label} tower 1`] as const;
  return label.startsWith('gpu.js') ? r.gpuTowers({ mode: 'headlessgl' }, names) : r.cpuTowers({}, [`cpu tower 0`, `cpu tower 1`]);
};

export const chooseBackend = async (choice: BackendChoice, towers: 1 | 2): Promise<Chosen> => {
  const build = async (label: string, make: Maker, note: string | null): Promise<Chosen> => {
    try {
      if (towers === 2) {
        const placement = await sideBySide(label);
        if (placement) {
          const each = placement.map((b) => (b as { threads?: number }).threads).filter((n) => n !== undefined);
          const what = label.startsWith('gpu.js') ? 'a process per tower' : `a thread per tower${each.length ? `, ${each[0]} thread${each[0] === 1 ? '' : 's'} each` : ''}`;
          return { placement, description: `${label.replace(/ \(.*\)$/, '')}, one context per tower, side by side (${what})`, note };
        }
      }
      const placement = Array.from({ length: towers }, (_, t) => make(towers === 2 ? `${label} tower ${t}` : label));
      return { placement, description: `${label}, ${towers === 2 ? 'one context per tower' : 'one context (grouped towers)'}`, note };
    } catch (e) {
      throw new AlexnetFailure(backendError(`the ${label} backend could not start: ${(e as Error).message}`));
    }
  };
  if (choice === 'reference') return build('reference', (n) => createReferenceBackend(n), null);
  if (choice === 'gpu:webgpu') {
    const r = await import('../backends/remote/index.ts');
    try {
      const placement = towers === 2 ? r.webgpuTowers() : [r.webgpuDevice()];
      const adapter = adapterOfFacts(placement[0].facts);
      return { placement, description: `gpu.js webgpu on ${adapter}, ${towers === 2 ? 'one device per tower, side by side (a process each)' : 'one device (grouped towers), in a process of its own'}`, note: null };
    } catch (e) {
      throw new AlexnetFailure(backendError(`--backend gpu:webgpu: ${(e as Error).message.split('\n')[0]}`));
    }
  }
  if (choice === 'gpu') {
    const g = await loadGpu();
    if ('reason' in g) throw new AlexnetFailure(backendError(`--backend gpu needs gpu.js in headless GL: ${g.reason}`));
    return build('gpu.js headlessgl', g.make, null);
  }
  if (choice === 'cpu') {
    const c = await loadCpu();
    if ('reason' in c) throw new AlexnetFailure(backendError(c.reason));
    return build(c.label, c.make, null);
  }
  const g = await loadGpu();
  if ('make' in g) return build('gpu.js headlessgl', g.make, null);
  const c = await loadCpu();
  if ('make' in c) return build(c.label, c.make, `gpu.js not used: ${g.reason}`);
  return build('reference', (n) => createReferenceBackend(n), `gpu.js not used: ${g.reason}; ${c.reason}; using the reference backend`);
};
