/**
 * What a run measures: the subjects (each backend and placement of ours, the
 * TensorFlow.js peers and PyTorch), the batches, and how many runs.
 *
 * The machine is two shared cores and a software GL renderer, so the plans are
 * sized in wall-clock time: every measurement stops at a few timed runs, and
 * nothing whose single run would pass the cap is timed. The full run still takes
 * tens of minutes here (the gpu.js subjects' training steps take 15-30 s each);
 * quick about a minute. For each subject, in order:
 *
 * 1. inference at batch 1, then at the larger batches whose pass, estimated
 *    from batch 1, fits under `capMs`;
 * 2. the per-layer profile at batch 1 (every subject at the same batch, so
 *    every layer has a ratio to every peer);
 * 3. training at `trainBatch` when a step, estimated from the profile's kernel
 *    times, fits under the cap; else at batch 1; not at all when one kernel
 *    alone is over the cap.
 *
 * The slow subjects (the reference and TensorFlow.js cpu, plain JavaScript
 * both) run at batch 1 only. Every measurement has `warmup` untimed runs and
 * then timed runs: `repeats` of them, or fewer once `budgetMs` is spent, never
 * fewer than `minRepeats`. Anything skipped is recorded with the reason.
 *
 * The browser subjects are measured by the page (`npm run web`, Bench) with
 * the same sequence (bench/measure.ts) under the `BROWSER` plan; `npm run
 * bench` runs only the Node subjects, and takes the page's records in with
 * `--report --import`.
 */
import type { SgdParams } from '../core/backend.ts';
import type { PlanRecord } from './record.ts';

export type SubjectId =
  | 'gpujs-gl-2ctx'
  | 'gpujs-gl-1ctx'
  | 'gpujs-webasm'
  | 'gpujs-webgpu-2dev'
  | 'gpujs-webgpu-1dev'
  | 'cpu'
  | 'cpu-2ctx'
  | 'reference'
  | 'tfjs-webgl'
  | 'tfjs-webgpu'
  | 'tfjs-wasm'
  | 'tfjs-cpu'
  | 'pytorch'
  | 'ort-node'
  | 'ort-wasm'
  | 'browser-gpujs-2ctx'
  | 'browser-gpujs-1ctx'
  | 'browser-tfjs-webgl'
  | 'browser-gpujs-webgpu-2dev'
  | 'browser-gpujs-webgpu-1dev'
  | 'browser-tfjs-webgpu';

export interface SubjectDef {
  readonly id: SubjectId;
  readonly label: string;
  readonly kind: 'ours' | 'peer';
  /** Who measures it: a worker of `npm run bench` in Node, or the page in a browser. */
  readonly where: 'node' | 'browser';
  /** Batch 1 only (plain JavaScript loops: larger batches take minutes). */
  readonly slow: boolean;
  /** Needs an X display for headless GL. */
  readonly gl: boolean;
  /** Runs on WebGPU: its worker starts with what Dawn needs to find a Vulkan driver (backends/webgpu/node.ts). */
  readonly webgpu?: boolean;
  /**
   * Why this subject's backward kernels and training are left out unless the run
   * is `--thorough`: they would take most of the run's time on their own.
   */
  readonly forwardOnly?: string;
  /** Why this subject measures inference alone, whatever the run (a runtime without training). */
  readonly inferenceOnly?: string;
}

const ORT_INFERENCE_ONLY = 'ONNX Runtime has no training in JavaScript: inference only';

export const SUBJECTS: readonly SubjectDef[] = [
  { id: 'gpujs-gl-2ctx', label: 'gpu.js headlessgl, 2 contexts side by side (a process per tower)', kind: 'ours', where: 'node', slow: false, gl: true },
  { id: 'gpujs-gl-1ctx', label: 'gpu.js headlessgl, 1 context (grouped)', kind: 'ours', where: 'node', slow: false, gl: true },
  { id: 'gpujs-webgpu-2dev', label: 'gpu.js webgpu (Dawn), 2 devices side by side (a process per tower)', kind: 'ours', where: 'node', slow: false, gl: false, webgpu: true },
  { id: 'gpujs-webgpu-1dev', label: 'gpu.js webgpu (Dawn), 1 device (grouped, in a process of its own)', kind: 'ours', where: 'node', slow: false, gl: false, webgpu: true },
  { id: 'gpujs-webasm', label: 'gpu.js webasm, 1 context (grouped)', kind: 'ours', where: 'node', slow: false, gl: false },
  { id: 'cpu', label: 'CPU backend (float32, wasm SIMD products, a thread per core), 1 context (grouped)', kind: 'ours', where: 'node', slow: false, gl: false },
  { id: 'cpu-2ctx', label: 'CPU backend, 2 towers side by side (a thread per tower, half the cores each)', kind: 'ours', where: 'node', slow: false, gl: false },
  { id: 'reference', label: 'reference (plain TypeScript), 1 context (grouped)', kind: 'ours', where: 'node', slow: true, gl: false },
  { id: 'tfjs-webgl', label: 'TF.js webgl on headless-gl', kind: 'peer', where: 'node', slow: false, gl: true },
  { id: 'tfjs-webgpu', label: 'TF.js webgpu (Dawn), reads awaited', kind: 'peer', where: 'node', slow: false, gl: false, webgpu: true },
  { id: 'tfjs-wasm', label: 'TF.js wasm (XNNPACK)', kind: 'peer', where: 'node', slow: false, gl: false },
  {
    id: 'tfjs-cpu', label: 'TF.js cpu', kind: 'peer', where: 'node', slow: true, gl: false,
    forwardOnly: 'TF.js cpu computes a convolution\'s filter gradient (Conv2DBackpropFilter) one output at a time over the whole batch and image, tens of seconds a call on these shapes; its backward kernels and training are measured with --thorough',
  },
  // In a python process of its own (bench/peers/torch.ts); no per-layer profile.
  { id: 'pytorch', label: 'PyTorch (CPU, float32, a thread per core)', kind: 'peer', where: 'node', slow: false, gl: false },
  // Our exported network in ONNX Runtime, in a thread of its own (bench/peers/ort.ts); inference only.
  { id: 'ort-node', label: 'ONNX Runtime node (CPU provider, MLAS, a thread per core)', kind: 'peer', where: 'node', slow: false, gl: false, inferenceOnly: ORT_INFERENCE_ONLY },
  { id: 'ort-wasm', label: 'ONNX Runtime web (wasm, SIMD, a thread per core)', kind: 'peer', where: 'node', slow: false, gl: false, inferenceOnly: ORT_INFERENCE_ONLY },
  // Measured by the page, on the browser's WebGL2 (gl: false: no X display involved).
  { id: 'browser-gpujs-2ctx', label: 'gpu.js webgl2 in the browser, 2 contexts (one per tower)', kind: 'ours', where: 'browser', slow: false, gl: false },
  { id: 'browser-gpujs-1ctx', label: 'gpu.js webgl2 in the browser, 1 context (grouped)', kind: 'ours', where: 'browser', slow: false, gl: false },
  { id: 'browser-tfjs-webgl', label: 'TF.js webgl in the browser', kind: 'peer', where: 'browser', slow: false, gl: false },
  // The browser's WebGPU: gpu.js's contexts each in a worker of their own (web/towers.ts).
  { id: 'browser-gpujs-webgpu-2dev', label: 'gpu.js webgpu in the browser, 2 devices (a worker per tower)', kind: 'ours', where: 'browser', slow: false, gl: false },
  { id: 'browser-gpujs-webgpu-1dev', label: 'gpu.js webgpu in the browser, 1 device (grouped, in a worker of its own)', kind: 'ours', where: 'browser', slow: false, gl: false },
  { id: 'browser-tfjs-webgpu', label: 'TF.js webgpu in the browser, reads awaited', kind: 'peer', where: 'browser', slow: false, gl: false },
];

export const NODE_SUBJECTS: readonly SubjectDef[] = SUBJECTS.filter((s) => s.where === 'node');
export const BROWSER_SUBJECTS: readonly SubjectDef[] = SUBJECTS.filter((s) => s.where === 'browser');

export const PEERS: readonly SubjectId[] = SUBJECTS.filter((s) => s.kind === 'peer').map((s) => s.id);

export const subjectById = (id: string): SubjectDef | undefined => SUBJECTS.find((s) => s.id === id);

export interface Plan extends PlanRecord {
  readonly subjects: readonly SubjectId[];
  /** Longest a subject's worker may run before it is stopped and reported as failed. */
  readonly subjectTimeoutMs: number;
}

/** The update used when timing training; its size does not change the work, and small steps keep the loss finite. */
const SGD: SgdParams = { lr: 1e-5, momentum: 0.9, weightDecay: 0.0005 };

export const FULL: Plan = {
  mode: 'full',
  thorough: false,
  seed: 1,
  inferenceBatches: [1, 16],
  trainBatches: [1, 8],
  profileBatch: 1,
  profileBackward: true,
  warmup: 1,
  repeats: 5,
  minRepeats: 2,
  budgetMs: 15_000,
  capMs: 45_000,
  kernelCapMs: 10_000,
  sgd: SGD,
  subjects: NODE_SUBJECTS.map((s) => s.id),
  subjectTimeoutMs: 10 * 60_000,
};

export const QUICK: Plan = {
  mode: 'quick',
  thorough: false,
  seed: 1,
  inferenceBatches: [1],
  trainBatches: [1],
  profileBatch: 1,
  profileBackward: false,
  warmup: 1,
  repeats: 2,
  minRepeats: 2,
  budgetMs: 2_000,
  capMs: 10_000,
  kernelCapMs: 5_000,
  sgd: SGD,
  subjects: ['cpu', 'tfjs-wasm'],
  subjectTimeoutMs: 60_000,
};

/**
 * The page's run: FULL's batches and caps, so that the same measurements are
 * made or skipped for the same reasons, with fewer timed runs and a smaller
 * budget per measurement, so that a run in a tab that is being watched stays
 * short. `subjectTimeoutMs` is for the page to apply.
 */
export const BROWSER: Plan = {
  ...FULL,
  repeats: 3,
  budgetMs: 8_000,
  subjects: BROWSER_SUBJECTS.map((s) => s.id),
  subjectTimeoutMs: 10 * 60_000,
};

/**
 * The page's quick run: QUICK's batches and budget on the page's subjects,
 * with the full run's caps, as a first run in a browser includes compiling
 * every shader (tens of seconds on a software renderer).
 */
export const BROWSER_QUICK: Plan = { ...QUICK, capMs: BROWSER.capMs, kernelCapMs: BROWSER.kernelCapMs, subjects: BROWSER.subjects, subjectTimeoutMs: BROWSER.subjectTimeoutMs };

/** Batches a subject measures under a plan, and what it leaves out and why. */
export const batchesFor = (plan: Plan, s: SubjectDef) => {
  const partial = s.inferenceOnly !== undefined || (s.forwardOnly !== undefined && !plan.thorough);
  return {
    inference: s.slow ? [1] : plan.inferenceBatches,
    train: partial ? [] : s.slow ? [1] : plan.trainBatches,
    profile: plan.profileBatch,
    profileBackward: plan.profileBackward && !partial,
    leftOut: s.inferenceOnly ?? (partial ? s.forwardOnly! : null),
  };
};

export const planRecord = (p: Plan): PlanRecord => {
  const { subjects: _s, subjectTimeoutMs: _t, ...rest } = p;
  return rest;
};
