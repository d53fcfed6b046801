/**
 * WebGPU backends under the synchronous contract: each runs in a tower process
 * of its own (backends/remote, `webgpuTower`) started with what Dawn needs
 * here (backends/webgpu/node.ts), the tower awaiting every read; the kit and
 * the executor see an ordinary Backend.
 *
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
import { tfjsWebgpuRecipe, webgpuTower } from '../backends/remote/index.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { verifyKernels } from './kit/run.ts';
import { WEBGPU_REQUIRED, webgpuPlan } from './webgpu.ts';

const S = suite('WebGPU backends in towers');
const plan = webgpuPlan();
const wgTest = plan.run ? S : S.skip;
if (!plan.run) console.log(`  skipped: the WebGPU tests: ${plan.reason}`);

const alexnet = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });

wgTest('a WebGPU adapter answers here', () => {
  if (plan.adapter === null) throw new Error(`ALEXNET_REQUIRE_WEBGPU=1 but ${plan.reason}`);
  console.log(`  [webgpu] adapter: ${plan.adapter}${WEBGPU_REQUIRED ? ' (required)' : ''}`);
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
