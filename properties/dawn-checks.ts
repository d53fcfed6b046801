/**
 * The checks of properties/webgpu-backend.test.ts, run in a process of their
 * own: Dawn finds SwiftShader's Vulkan driver only through variables the
 * dynamic loader reads when a process starts (webgpuEnvironment()), which the
 * test's process was not started with. The test starts this file with them,
 * and it prints one line `@@ <json>` per result: first whether an adapter
 * answered, then one per check ({ name, ok, message, seconds }), then
 * { done: true }.
 *
 *   node --import tsx properties/dawn-checks.ts          (with webgpuEnvironment() added)
 *
 * ALEXNET_WEBGPU_CASES sets the drawn cases per kernel (default: each
 * property's own count, as `alexnet verify` draws),
 * ALEXNET_WEBGPU_SEED their seed. With ALEXNET_WEBGPU_WAIT=1 the checks wait,
 * once availability is said, for a line `go` on stdin (the test sends it when
 * its turn comes, so that they do not run beside other suites), and end
 * without running if stdin closes first.
 */
import { pathToFileURL } from 'node:url';
import type { Backend, Handle } from '../core/backend.ts';
import { type Shape, Tensor } from '../core/tensor.ts';
import { createWebGpuBackend, type WebGpuBackend, webgpuAvailability } from '../backends/gpujs/webgpu.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { verifyKernelAwaiting } from './kit/awaiting.ts';
import { PROPERTIES } from './kit/kernels.ts';
import { compare, maxAbsOf, reductionTolerance } from './kit/tolerance.ts';

/** The checks, in the order they run; the test declares one test each. */
export const CHECKS = [
  'adapter',
  ...PROPERTIES.map((p) => `kernel ${p.kernel}`),
  'fc6 weights (4096x9216, 151 MB) in one buffer',
  'training steps leave no buffer behind and compile each kernel once',
  'sync and destroy',
] as const;

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly message: string;
  readonly seconds: number;
}

const say = (o: unknown): void => { process.stdout.write(`@@ ${JSON.stringify(o)}\n`); };

const values = (shape: Shape, seed: number, scale = 1): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed * 2654435761 >>> 0;
  return Tensor.trusted(shape, Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  }));
};

const assert = (ok: boolean, message: string): void => {
  if (!ok) throw new Error(message);
};

/** fc6 of the paper on one tower-less device: 37.7 M weights past 2^24, 151 MB, above WebGPU's default 128 MiB binding. */
const fc6 = async (gpu: WebGpuBackend, ref: Backend): Promise<string> => {
  const [N, K, M] = [1, 9216, 4096];
  assert(gpu.limits.maxStorageBufferBindingSize >= M * K * 4, `the device binds at most ${gpu.limits.maxStorageBufferBindingSize} bytes, less than fc6's ${M * K * 4}`);
  const x = values([N, K], 1);
  const w = values([M, K], 2, 0.01);
  const b = values([M], 3);
  const live0 = gpu.liveCount();
  const hs = [gpu.upload(x), gpu.upload(w), gpu.upload(b)];
  const t0 = performance.now();
  const y = await gpu.linear(hs[0], hs[1], hs[2]);
  const got = await gpu.download(y);
  const ms = performance.now() - t0;
  for (const h of [...hs, y]) gpu.dispose(h);
  assert(gpu.liveCount() === live0, `left ${gpu.liveCount() - live0} buffers alive`);
  const want = ref.download(ref.linear(ref.upload(x.as('float64')), ref.upload(w.as('float64')), ref.upload(b.as('float64'))));
  const scale = maxAbsOf(ref.download(ref.linear(ref.upload(x.map(Math.abs)), ref.upload(w.map(Math.abs)), ref.upload(b.map(Math.abs)))));
  const r = compare(got.data, want.data, reductionTolerance(K + 1, scale));
  assert(r.ok, `y[${r.worstAt}] = ${got.data[r.worstAt]}, the reference ${want.data[r.worstAt]}: ${r.worstRatio.toFixed(2)}x the float32 allowance`);
  return `linear [1, 9216] x [4096, 9216] in ${ms.toFixed(0)} ms, worst ${r.worstRatio.toFixed(3)} of the allowance`;
};

/**
 * Steps of a small network's forward and backward pass and update, every
 * handle disposed after each step: the device buffers must come back to
 * where they were, and no kernel may be compiled after the first step.
 */
const steps = async (gpu: WebGpuBackend, count: number): Promise<string> => {
  const conv = { stride: 1, pad: 1, groups: 2 };
  const pool = { size: 3, stride: 2 };
  const lrn = { k: 2, n: 5, alpha: 1e-4, beta: 0.75 };
  const sgd = { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 };
  let w1 = gpu.upload(values([8, 2, 3, 3], 11, 0.3));
  let b1 = gpu.upload(values([8], 12, 0.1));
  let w2 = gpu.upload(values([5, 8 * 4 * 4], 13, 0.1));
  let b2 = gpu.upload(values([5], 14, 0.1));
  let vs = [values([8, 2, 3, 3], 0, 0), values([8], 0, 0), values([5, 128], 0, 0), values([5], 0, 0)].map((t) => gpu.upload(t));
  const live0 = gpu.liveCount();
  const kernels0 = gpu.kernelCount();
  let kernels = -1;
  const losses: number[] = [];
  for (let s = 0; s < count; s++) {
    const made: Handle[] = [];
    const keep = <H extends Handle>(h: H): H => { made.push(h); return h; };
    const x = keep(gpu.upload(values([2, 4, 9, 9], 100 + s)));
    const mask = keep(gpu.upload(values([2, 128], 200 + s).map((v) => (v > 0 ? 2 : 0))));
    const y1 = keep(await gpu.conv2d(x, w1, b1, conv));
    const r1 = keep(await gpu.relu(y1));
    const n1 = keep(await gpu.lrn(r1, lrn));
    const p1 = keep(await gpu.maxPool(n1, pool));
    const f = keep(gpu.reshape(p1, [2, 128]));
    const d = keep(await gpu.dropout(f, mask));
    const z = keep(await gpu.linear(d, w2, b2));
    const loss = await gpu.softmaxCrossEntropy(z, Int32Array.of(s % 5, (s + 2) % 5));
    keep(loss.probs);
    keep(loss.dlogits);
    const dd = keep(await gpu.linearGradInput(loss.dlogits, w2));
    const dw2 = keep(await gpu.linearGradWeight(d, loss.dlogits));
    const db2 = keep(await gpu.biasGrad(loss.dlogits));
    const df = keep(await gpu.dropoutGrad(dd, mask));
    const dp1 = keep(gpu.reshape(df, [2, 8, 4, 4]));
    const dn1 = keep(await gpu.maxPoolGrad(n1, dp1, pool));
    const dr1 = keep(await gpu.lrnGrad(r1, dn1, lrn));
    const dy1 = keep(await gpu.reluGrad(r1, dr1));
    const dw1 = keep(await gpu.conv2dGradFilter(x, dy1, [8, 2, 3, 3], conv));
    const db1 = keep(await gpu.biasGrad(dy1));
    keep(await gpu.conv2dGradInput(dy1, w1, [2, 4, 9, 9], conv));
    const params = [w1, b1, w2, b2];
    const grads = [dw1, db1, dw2, db2];
    const next: { w: Handle; v: Handle }[] = [];
    for (let i = 0; i < params.length; i++) next.push(await gpu.sgdUpdate(params[i], vs[i], grads[i], sgd));
    for (const h of [...params, ...vs]) gpu.dispose(h);
    [w1, b1, w2, b2] = next.map((u) => u.w);
    vs = next.map((u) => u.v);
    losses.push(await loss.loss);
    for (const h of made) gpu.dispose(h);
    assert(gpu.liveCount() === live0, `step ${s} left ${gpu.liveCount() - live0} device buffers alive`);
    if (s === 0) kernels = gpu.kernelCount();
    else assert(gpu.kernelCount() === kernels, `step ${s} compiled ${gpu.kernelCount() - kernels} kernels more than the first`);
  }
  assert(losses.every(Number.isFinite), `a loss was not finite: ${losses.join(', ')}`);
  for (const h of [w1, b1, w2, b2, ...vs]) gpu.dispose(h);
  assert(gpu.liveCount() === live0 - 8, `the parameters left ${gpu.liveCount() - (live0 - 8)} buffers alive`);
  return `${count} steps, ${kernels - kernels0} kernels compiled in the first, loss ${losses[0].toFixed(4)} -> ${losses[losses.length - 1].toFixed(4)}`;
};

const syncAndDestroy = async (): Promise<string> => {
  const gpu = await createWebGpuBackend({ name: 'webgpu to destroy' });
  const h = gpu.upload(values([64], 5));
  const y = await gpu.relu(h);
  await gpu.sync();
  await gpu.destroy();
  assert(gpu.liveCount() === 0, `${gpu.liveCount()} buffers alive after destroy`);
  let threw = '';
  try {
    await gpu.add(h, y);
  } catch (e) {
    threw = (e as Error).message;
  }
  assert(/destroyed/.test(threw), `a kernel after destroy did not fail (said: '${threw}')`);
  return 'sync resolved; after destroy no buffer is alive and a kernel fails';
};

/** Whether a line `word` comes on stdin before it closes. */
const told = (word: string): Promise<boolean> => new Promise((resolve) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    text += chunk;
    if (text.split('\n').includes(word)) {
      process.stdin.pause();
      process.stdin.removeAllListeners();
      resolve(true);
    }
  });
  process.stdin.on('end', () => resolve(false));
});

const main = async (): Promise<void> => {
  const availability = await webgpuAvailability();
  say({ availability });
  if (!availability.available) return;
  if (process.env.ALEXNET_WEBGPU_WAIT === '1' && !(await told('go'))) return;
  const gpu = await createWebGpuBackend({ name: 'webgpu under test' });
  const ref = createReferenceBackend('reference');
  const cases = process.env.ALEXNET_WEBGPU_CASES ? Number(process.env.ALEXNET_WEBGPU_CASES) : null;
  const seed = Number(process.env.ALEXNET_WEBGPU_SEED ?? 2024);
  const run = async (name: string, body: () => Promise<string>): Promise<void> => {
    const t0 = performance.now();
    let result: CheckResult;
    try {
      result = { name, ok: true, message: await body(), seconds: 0 };
    } catch (e) {
      result = { name, ok: false, message: (e instanceof Error ? e.message : String(e)).split('\n')[0], seconds: 0 };
    }
    say({ ...result, seconds: (performance.now() - t0) / 1000 });
  };
  await run('adapter', async () => {
    assert(gpu.mode === 'webgpu', `mode ${gpu.mode}`);
    const i = gpu.adapterInfo;
    const x = gpu.upload(values([4], 1));
    const y = await gpu.relu(x);
    assert(gpu.stats().runs === 1 && gpu.kernelCount() === 1, 'a kernel ran as a WebGPU kernel');
    gpu.dispose(x);
    gpu.dispose(y);
    return `${gpu.name} on ${i.vendor} ${i.architecture} (${i.description}${i.isFallbackAdapter ? ', a fallback adapter' : ''}), storage buffers up to ${gpu.limits.maxStorageBufferBindingSize} bytes`;
  });
  for (const p of PROPERTIES) {
    await run(`kernel ${p.kernel}`, async () => {
      const r = await verifyKernelAwaiting(gpu, ref, p, { cases: cases ?? p.cases, seed });
      if (!r.ok) throw new Error(r.failure);
      return `${r.cases} cases, worst ${r.worstFraction.toFixed(3)} of the float32 allowance`;
    });
  }
  await run(CHECKS[CHECKS.length - 3], () => fc6(gpu, ref));
  await run(CHECKS[CHECKS.length - 2], () => steps(gpu, 12));
  await run(CHECKS[CHECKS.length - 1], syncAndDestroy);
  await gpu.destroy();
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => say({ done: true }),
    (e) => { say({ fatal: (e instanceof Error ? e.stack ?? e.message : String(e)) }); process.exitCode = 1; },
  );
}
