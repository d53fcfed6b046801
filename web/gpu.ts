/** What the worker's tasks share: gpu.js on this browser's GL, and the channel back to the page. */
import { createGpuBackend, type GpuBackend } from '../backends/gpujs/index.ts';

export interface Channel {
  line(text: string): void;
  progress(done: number, total: number, label: string): void;
}

/** Lets the worker's queue run (posted messages leave, a repaint happens on the page). */
export const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/**
 * The GL the page asks gpu.js for: the best there is (WebGL2, else WebGL), or
 * the one `?gl=webgl` or `?gl=webgl2` names, so that WebGL 1 can be checked
 * on a browser that has both.
 */
export const requestedGl = (): 'auto' | 'webgl2' | 'webgl' => {
  const q = (globalThis as unknown as { location?: { search: string } }).location?.search ?? '';
  const gl = new URLSearchParams(q).get('gl');
  return gl === 'webgl' || gl === 'webgl2' ? gl : 'auto';
};

/** A gpu.js context on this browser's GL, or why there is none (gpu.js fell back off GL, or no WebGL). */
export const glBackend = (name: string): GpuBackend | { reason: string } => {
  let b: GpuBackend;
  try {
    b = createGpuBackend({ name, mode: requestedGl() });
  } catch (e) {
    return { reason: (e as Error).message };
  }
  if (b.mode === 'webgl2' || b.mode === 'webgl') return b;
  b.destroy();
  return { reason: `no WebGL for gpu.js in this browser, so it would run in its ${b.mode} mode, not on the GPU (${b.passedOver ?? 'no reason given'})` };
};

export const describeGl = (b: GpuBackend): string => {
  const g = b.glInfo;
  return `${b.name} (mode ${b.mode}${g ? `; ${g.renderer}; ${g.version}; highp float ${g.floatPrecisionBits} bits` : ''})`;
};


/** The GPU API the page's gpu.js runs on: WebGL (the default), or WebGPU where `?gpu=webgpu` asks for it. */
export const requestedGpu = (): 'webgl' | 'webgpu' => {
  const q = (globalThis as unknown as { location?: { search: string } }).location?.search ?? '';
  return new URLSearchParams(q).get('gpu') === 'webgpu' ? 'webgpu' : 'webgl';
};

export { adapterOfFacts } from '../backends/webgpu/node.ts';
