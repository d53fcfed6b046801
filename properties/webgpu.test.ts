/**
 * WebGPU backends under the synchronous contract: each runs in a tower process
 * of its own (backends/remote, `webgpuTower`) started with what Dawn needs
 * here (backends/webgpu/node.ts), the tower awaiting every read; the kit and
 * the executor see an ordinary Backend.
 *
 * - gpu.js's WebGPU mode (`gpu:webgpu`, backends/gpujs/webgpu.ts): every
 *   kernel of the contract through the kit at its default case counts (the
 *   fixed cases past 2^24 entries included), fc6 of the paper in one buffer
 *   (151 MB, past WebGPU's default 128 MiB binding), training steps through
 *   the executor that leave the device's buffer count where it was, the two
 *   towers on two devices under verify's network phase, and `alexnet train
 *   --backend gpu:webgpu` whose loss falls;
 * - TensorFlow.js's webgpu backend (`tfjs-webgpu`): its kernels checked by the
 *   kit against the reference, reads awaited as its users await them, and
 *   `alexnet verify --backend tfjs-webgpu` naming the adapter it ran on.
 *
 * Every test names the adapter it ran on. Without an adapter they are skipped
 * with the reason, or fail with it under ALEXNET_REQUIRE_WEBGPU=1 (CI).
 */
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuWebgpuRecipe, tfjsWebgpuRecipe, webgpuTower } from '../backends/remote/index.ts';
import { adapterOfFacts } from '../backends/webgpu/node.ts';
import { alexnetMini } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Tensor } from '../core/tensor.ts';
import { compare, maxAbsOf, reductionTolerance } from './kit/tolerance.ts';
import { randn } from './support.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { verifyKernels } from './kit/run.ts';
import { WEBGPU_REQUIRED, webgpuPlan } from './webgpu.ts';

const S = suite('WebGPU backends in towers');
/** Training steps in the device-memory test (ALEXNET_WEBGPU_STEPS for more: the figure in README is 200). */
const STEPS = Number(process.env.ALEXNET_WEBGPU_STEPS ?? 12);
const plan = webgpuPlan();
const wgTest = plan.run ? S : S.skip;
if (!plan.run) console.log(`  skipped: the WebGPU tests: ${plan.reason}`);

const alexnet = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });

wgTest('a WebGPU adapter answers here', () => {
  if (plan.adapter === null) throw new Error(`ALEXNET_REQUIRE_WEBGPU=1 but ${plan.reason}`);
  console.log(`  [webgpu] adapter: ${plan.adapter}${WEBGPU_REQUIRED ? ' (required)' : ''}`);
});

const dir = mkdtempSync(join(tmpdir(), 'alexnet-webgpu-'));
S.after(() => rmSync(dir, { recursive: true, force: true }));

wgTest('gpu.js webgpu in a tower process: every kernel of the contract passes the kit at its default case counts', () => {
  const t = webgpuTower(gpuWebgpuRecipe('gpu.js webgpu'));
  try {
    assert.is(t.mode, 'webgpu', 'gpu.js runs in its WebGPU mode');
    assert.ok(t.facts.pid !== process.pid, 'in a process of its own');
    const rs = verifyKernels(t, createReferenceBackend('reference (oracle)'), { seed: 2024 });
    for (const r of rs) assert.is(r.verdict, 'pass', `${r.kernel}: ${r.verdict} ${r.counterexample?.message ?? r.detail ?? ''}`);
    assert.is(t.liveCount(), 0, 'every buffer of the cases destroyed');
    console.log(`  [webgpu] gpu:webgpu on ${adapterOfFacts(t.facts)}: ${rs.length} kernels, ${rs.reduce((a, r) => a + r.cases, 0)} cases, worst ${Math.max(...rs.map((r) => r.worstFraction)).toFixed(3)} of the float32 allowance`);
  } finally {
    t.close();
  }
});

wgTest('gpu.js webgpu: fc6 of the paper (4096x9216 weights, 151 MB) binds in one buffer and computes within the float32 tolerance', () => {
  const t = webgpuTower(gpuWebgpuRecipe('gpu.js webgpu fc6'));
  const ref = createReferenceBackend();
  try {
    const [K, M] = [9216, 4096];
    const x = randn([1, K], 1, 1, 'float32');
    const w = randn([M, K], 2, 0.01, 'float32');
    const b = randn([M], 3, 1, 'float32');
    const got = t.download(t.linear(t.upload(x), t.upload(w), t.upload(b)));
    const want = ref.download(ref.linear(ref.upload(x.as('float64')), ref.upload(w.as('float64')), ref.upload(b.as('float64'))));
    const scale = maxAbsOf(ref.download(ref.linear(ref.upload(x.map(Math.abs)), ref.upload(w.map(Math.abs)), ref.upload(b.map(Math.abs)))));
    const r = compare(got.data, want.data, reductionTolerance(K + 1, scale));
    assert.ok(r.ok, `y[${r.worstAt}] = ${got.data[r.worstAt]}, the reference ${want.data[r.worstAt]}: ${r.worstRatio.toFixed(2)}x the float32 allowance`);
  } finally {
    t.close();
  }
});

wgTest('gpu.js webgpu: a grid past the device\'s workgroups per axis runs flat (conv4\'s filter gradient of the grouped network: 384 x 192 threads along z)', () => {
  const t = webgpuTower(gpuWebgpuRecipe('gpu.js webgpu flat grid'));
  const ref = createReferenceBackend();
  try {
    const p = { stride: 1, pad: 1, groups: 1 };
    const x = randn([1, 192, 13, 13], 1, 1, 'float32');
    const dy = randn([1, 384, 13, 13], 2, 1, 'float32');
    const got = t.download(t.conv2dGradFilter(t.upload(x), t.upload(dy), [384, 192, 3, 3], p));
    const want = ref.download(ref.conv2dGradFilter(ref.upload(x.as('float64')), ref.upload(dy.as('float64')), [384, 192, 3, 3], p));
    const scale = maxAbsOf(ref.download(ref.conv2dGradFilter(ref.upload(x.map(Math.abs)), ref.upload(dy.map(Math.abs)), [384, 192, 3, 3], p)));
    const r = compare(got.data, want.data, reductionTolerance(13 * 13, scale));
    assert.ok(r.ok, `dw[${r.worstAt}] = ${got.data[r.worstAt]}, the reference ${want.data[r.worstAt]}: ${r.worstRatio.toFixed(2)}x the float32 allowance`);
  } finally {
    t.close();
  }
});

wgTest('gpu.js webgpu: training steps through the executor leave the device\'s buffers where they were, and the loss falls', () => {
  const spec = alexnetMini();
  const t = webgpuTower(gpuWebgpuRecipe('gpu.js webgpu training'));
  const net = orThrow(Network.create(spec, initParams(spec, 3), [t]));
  try {
    const x = randn([2, ...spec.input], 9, 1, 'float32');
    const labels = Int32Array.of(1, 7);
    // The same batch again and again, without dropout, at a learning rate that the cpu backend descends at too.
    const sgd = { lr: 0.001, momentum: 0.9, weightDecay: 0.0005 };
    const losses: number[] = [];
    let live = -1;
    for (let s = 0; s < STEPS; s++) {
      losses.push(net.trainStep(x, labels, sgd, { train: false }).loss);
      const now = t.liveCount();
      if (s === 0) live = now;
      else assert.is(now, live, `step ${s} left ${now - live} device buffers more than the first`);
    }
    const last3 = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    assert.ok(last3 < losses[0], `the loss did not fall: ${losses.map((l) => l.toFixed(3)).join(', ')}`);
    console.log(`  [webgpu] ${STEPS} training steps of alexnet-mini at batch 2: ${live} device buffers after each; loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)}`);
  } finally {
    net.dispose();
    t.close();
  }
});

wgTest('alexnet verify --backend gpu:webgpu,gpu:webgpu: the two towers on two devices, side by side, agree with the reference through a training pass', () => {
  const r = alexnet('verify', '--backend', 'gpu:webgpu,gpu:webgpu', '--kernels', 'relu', '--cases', '2', '--network', 'alexnet-mini', '--seed', '3');
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /gpu\.js, mode webgpu, on .*\(in a process of its own\)/);
  assert.match(r.stdout, /B \(checked\): \[gpu:webgpu tower 0 \(mode webgpu\), gpu:webgpu tower 1 \(mode webgpu\)\]/);
  assert.match(r.stdout, /B ran in [\d.]+ s; transfers: forward conv3 x2/);
  assert.match(r.stdout, /verdict: PASS \(1 kernel checks and the alexnet-mini training pass agree/);
});

wgTest('alexnet train --backend gpu:webgpu: a short alexnet-mini run whose training loss falls', () => {
  const r = alexnet('train', '--data', 'synthetic', '--train-limit', '32', '--val', '8', '--batch', '8', '--validate-every', '3', '--epochs', '3', '--lr', '0.001', '--test-limit', '8', '--test-crops', '1', '--backend', 'gpu:webgpu', '--out', join(dir, 'train'));
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /backend: gpu\.js webgpu on .*one device/);
  // The validation lines come with the progress, on stderr.
  const losses = [...new Set([...r.stderr.matchAll(/training loss ([\d.]+)/g)].map((m) => m[1]))].map(Number);
  assert.ok(losses.length >= 2 && losses[losses.length - 1] < losses[0], `the training loss did not fall: ${losses.join(', ')}`);
});

wgTest('TensorFlow.js webgpu in a tower process: its forward and backward kernels agree with the reference, every read awaited', () => {
  const t = webgpuTower(tfjsWebgpuRecipe('TensorFlow.js webgpu'));
  try {
    assert.ok(typeof t.facts['adapter.vendor'] === 'string', 'the tower names its adapter');
    assert.ok(t.facts.pid !== process.pid, 'in a process of its own');
    // Not the fc kernels and the update: their fixed cases (weights past 2^24 entries) take minutes on a software adapter.
    const kernels = ['upload/download', 'conv2d', 'conv2dGradFilter', 'lrn', 'maxPool', 'softmaxCrossEntropy'] as const;
    const rs = verifyKernels(t, createReferenceBackend('reference (oracle)'), { kernels: [...kernels], cases: 3, seed: 5 });
    for (const r of rs) assert.is(r.verdict, 'pass', `${r.kernel}: ${r.verdict} ${r.counterexample?.message ?? r.detail ?? ''}`);
    assert.is(t.liveCount(), 0, 'every tensor of the cases freed');
    console.log(`  [webgpu] tfjs-webgpu on ${t.facts['adapter.description'] || t.facts['adapter.vendor']}: ${rs.map((r) => `${r.kernel} ${r.cases}`).join(', ')} cases pass`);
  } finally {
    t.close();
  }
});

wgTest('alexnet verify --backend tfjs-webgpu runs the kit and names the adapter', () => {
  const r = alexnet('verify', '--backend', 'tfjs-webgpu', '--kernels', 'relu,softmaxCrossEntropy', '--cases', '3', '--network', 'none', '--seed', '3');
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /webgpu backend on .*\(in a process of its own\)/);
  assert.match(r.stdout, /verdict: PASS \(2 kernel checks agree/);
});

S.run();
