/**
 * Choosing where the network runs: `--backend auto|gpu|cpu|reference` and
 * `--towers 1|2` (one context running the grouped network, or one context per
 * tower, as the paper's two GPUs).
 *
 * 'auto' takes the gpu.js backend when it runs in headless GL here (under
 * `xvfb-run -a`), else the fast CPU backend, else the reference, and says why
 * it passed over the better ones. The other backends are imported only when
 * asked for, so a missing or broken one cannot stop the reference from working.
 */
import type { Backend } from '../core/backend.ts';
import { AlexnetFailure, backendError } from '../core/errors.ts';
import { createReferenceBackend } from '../reference/index.ts';

export const BACKENDS = ['auto', 'gpu', 'cpu', 'reference'] as const;
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

export const chooseBackend = async (choice: BackendChoice, towers: 1 | 2): Promise<Chosen> => {
  const build = (label: string, make: Maker, note: string | null): Chosen => {
    try {
      const placement = Array.from({ length: towers }, (_, t) => make(towers === 2 ? `${label} tower ${t}` : label));
      return { placement, description: `${label}, ${towers === 2 ? 'one context per tower' : 'one context (grouped towers)'}`, note };
    } catch (e) {
      throw new AlexnetFailure(backendError(`the ${label} backend could not start: ${(e as Error).message}`));
    }
  };
  if (choice === 'reference') return build('reference', (n) => createReferenceBackend(n), null);
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
