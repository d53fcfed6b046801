/**
 * Which gpu.js modes the GPU properties run in here, and what happens when one
 * is missing.
 *
 * - 'headlessgl' needs the `gl` package and an X server (xvfb-run). With
 *   ALEXNET_REQUIRE_GL=1 (CI sets it) GL is required: a missing GL context, or a
 *   backend that gpu.js put on webasm or cpu instead, fails the test with the
 *   reason. Without it, the GL tests are reported as skipped, with the reason
 *   printed, never passed.
 * - 'webasm' runs wherever WebAssembly SIMD does, so the kernels are checked on
 *   a second, independent code path even without GL.
 *
 * Every GPU test goes through `gpuTest`, which prints the mode gpu.js really ran.
 */
import type { Test } from 'uvu';
import { availability, type ConvolutionMethod, createGpuBackend, type GpuBackend, type GpuMode } from '../backends/gpujs/index.ts';

export const GL_REQUIRED = process.env.ALEXNET_REQUIRE_GL === '1';

/**
 * For working on one kernel: ALEXNET_GPU_ONLY=text runs only the GPU tests whose
 * name contains the text, ALEXNET_GPU_MODES=webasm (comma-separated) only those
 * modes. Both say so on every run, so a narrowed run is never mistaken for a
 * full one.
 */
const ONLY = process.env.ALEXNET_GPU_ONLY ?? '';
const MODES = process.env.ALEXNET_GPU_MODES ?? '';

/** The modes the GPU properties cover. */
export const PROPERTY_MODES: readonly GpuMode[] = (['headlessgl', 'webasm'] as const).filter((m) => MODES === '' || MODES.split(',').includes(m));
if (ONLY || MODES) console.log(`  GPU tests narrowed: ${ONLY ? `names containing '${ONLY}'` : 'all names'}, modes ${PROPERTY_MODES.join(', ') || 'none'}`);

/** Whether a GPU test of this name is selected (see ALEXNET_GPU_ONLY). */
export const selected = (name: string): boolean => ONLY === '' || name.includes(ONLY);

export interface ModePlan {
  readonly mode: GpuMode;
  /** Run the tests (they may still fail, e.g. when GL is required but missing). */
  readonly run: boolean;
  /** Why the tests are skipped (when run is false). */
  readonly skipReason: string | null;
}

export const planFor = (mode: GpuMode): ModePlan => {
  const a = availability(mode);
  if (a.available || (mode === 'headlessgl' && GL_REQUIRED)) return { mode, run: true, skipReason: null };
  return { mode, run: false, skipReason: a.reason };
};

/**
 * A gpu.js backend in `mode`, or an error saying why there is none. For
 * 'headlessgl' the backend is made in 'auto' mode and must come out on GL: a
 * gpu.js that settled for webasm or cpu fails here with the reason.
 */
export const gpuBackend = (mode: GpuMode, name?: string, convolution?: ConvolutionMethod): GpuBackend => {
  if (mode !== 'headlessgl') return createGpuBackend({ mode, name, convolution });
  const b = createGpuBackend({ mode: 'auto', name, convolution });
  if (b.mode !== 'headlessgl') {
    b.destroy();
    throw new Error(
      `headless GL is ${GL_REQUIRED ? 'required (ALEXNET_REQUIRE_GL=1)' : 'expected'} but gpu.js fell back to ${b.mode}: ${b.passedOver ?? 'no reason given'}`,
    );
  }
  return b;
};

/** Prints one line for a GPU test, always naming the mode that ran. */
export const report = (mode: string, what: string): void => {
  console.log(`  [gpu.js ${mode}] ${what}`);
};

/**
 * Registers `fn` as a test of `mode` on `suite`: run when the mode is available
 * (or required), otherwise registered as skipped with the reason printed.
 */
export const gpuTest = (suite: Test, plan: ModePlan, name: string, fn: () => void | Promise<void>): void => {
  const title = `${name} [${plan.mode}]`;
  if (!selected(name)) return;
  if (plan.run) {
    suite(title, fn);
  } else {
    console.log(`  skipped: ${title}: ${plan.skipReason}`);
    suite.skip(title, fn);
  }
};
