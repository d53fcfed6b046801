/**
 * Every gpu.js kernel, forward and backward, against the reference: the
 * conformance kit (kit/kernels.ts, the same properties `alexnet verify` runs)
 * in each gpu.js mode (headless GL and webasm; see gl.ts), and on GL once more
 * with the direct convolution kernels, which GL uses when the lowered matrices
 * would be too large. Each case also checks that the kernel writes nothing
 * into its inputs, that a later call does not overwrite an earlier result, and
 * that nothing leaks; the fully connected kernels and the update also run on a
 * weight matrix past 2^24 entries.
 */
import { suite } from 'uvu';
import type { ConvolutionMethod, GpuBackend, GpuMode } from '../backends/gpujs/index.ts';
import { registerKernelTests, summary } from './conformance.ts';
import { gpuBackend, gpuTest, planFor, PROPERTY_MODES, report } from './gl.ts';

const S = suite('gpu.js kernels agree with the reference');
const backends = new Map<string, GpuBackend>();
/** GL convolves as matrix products unless told 'direct' (see lowering.ts); both are checked. */
const backendFor = (mode: GpuMode, convolution: ConvolutionMethod = 'lowered'): GpuBackend => {
  const key = `${mode} ${convolution}`;
  let b = backends.get(key);
  if (!b) {
    b = gpuBackend(mode, `gpu.js ${mode} (kernel properties, ${convolution} convolution)`, convolution);
    backends.set(key, b);
  }
  return b;
};

for (const mode of PROPERTY_MODES) {
  const plan = planFor(mode);
  registerKernelTests((name, fn) => gpuTest(S, plan, name, fn), `gpu.js ${mode}`, () => backendFor(mode), {
    spec: `gpu:${mode}`,
    report: (r) => report(backendFor(mode).mode, summary(r)),
  });
}

if (PROPERTY_MODES.includes('headlessgl')) {
  registerKernelTests((name, fn) => gpuTest(S, planFor('headlessgl'), name, fn), 'gpu.js headlessgl, direct convolution', () => backendFor('headlessgl', 'direct'), {
    spec: 'gpu:headlessgl',
    kernels: ['conv2d', 'conv2dGradInput', 'conv2dGradFilter'],
    report: (r) => report(backendFor('headlessgl', 'direct').mode, `${summary(r)} (direct)`),
  });
}

S.after(() => {
  for (const b of backends.values()) b.destroy();
});

S.run();
