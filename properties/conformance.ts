/**
 * The test files' side of the conformance kit (kit/): registers one uvu test
 * per kernel of the contract that runs the kit's property on a backend against
 * the reference and fails with the kit's own report (the shrunk case, the
 * worst element, the replay command) when the backend disagrees.
 *
 * Every run draws a new fast-check seed and prints it; ALEXNET_KIT_SEED=S
 * runs with seed S instead.
 */
import type { Backend } from '../core/backend.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { type KernelName, PROPERTIES } from './kit/kernels.ts';
import { formatKernelPhase } from './kit/report.ts';
import { drawSeed, type KernelResult, verifyKernel } from './kit/run.ts';

export const KIT_SEED = process.env.ALEXNET_KIT_SEED !== undefined ? Number(process.env.ALEXNET_KIT_SEED) : drawSeed();
console.log(`  conformance kit seed ${KIT_SEED} (ALEXNET_KIT_SEED=${KIT_SEED} replays this run)`);

const oracle = createReferenceBackend('reference (oracle)');

export interface KernelTestOptions {
  /** The spec that names the backend on the command line, for the replay line. */
  readonly spec: string;
  /** Multiplies each kernel's default case count. */
  readonly scale?: number;
  /** Only these kernels (default all). */
  readonly kernels?: readonly KernelName[];
  /** Gets each kernel's result (for a summary line). */
  readonly report?: (r: KernelResult) => void;
}

/** Registers a test per kernel through `register` (uvu's test, or gpuTest); `subject` is made on first use. */
export const registerKernelTests = (
  register: (name: string, fn: () => void) => void,
  label: string,
  subject: () => Backend,
  opts: KernelTestOptions,
): void => {
  for (const p of PROPERTIES.filter((q) => !opts.kernels || opts.kernels.includes(q.kernel))) {
    register(`${p.kernel} agrees with the reference (${label})`, () => {
      const r = verifyKernel(subject(), oracle, p, { seed: KIT_SEED, scale: opts.scale });
      opts.report?.(r);
      if (r.verdict !== 'pass') {
        throw new Error(`${p.kernel} on ${label}: ${r.verdict}\n${formatKernelPhase({ spec: opts.spec, detail: label, results: [r] }, 'reference')}`);
      }
    });
  }
};

/** The summary line of one kernel's result. */
export const summary = (r: KernelResult): string =>
  `${r.kernel}: ${r.cases} cases, worst error ${(100 * r.worstFraction).toFixed(1)}% of the tolerance, ${r.seconds.toFixed(1)} s`;
