/**
 * Whether the WebGPU properties run here. WebGPU in Node is Dawn (the
 * `webgpu` package) on a Vulkan driver, in a process started with the
 * environment that finds it (backends/webgpu/node.ts); the probe asks such a
 * process for an adapter.
 *
 * With ALEXNET_REQUIRE_WEBGPU=1 (CI sets it) WebGPU is required: no adapter
 * fails the tests with the reason. Without it, they are reported as skipped
 * with the reason printed, never passed.
 */
import { spawnSync } from 'node:child_process';
import { webgpuEnvironment } from '../backends/webgpu/node.ts';

export const WEBGPU_REQUIRED = process.env.ALEXNET_REQUIRE_WEBGPU === '1';

export interface WebgpuPlan {
  /** Run the tests (they may still fail, e.g. when WebGPU is required but missing). */
  readonly run: boolean;
  /** Why they are skipped, or why they will fail. */
  readonly reason: string | null;
  /** The adapter, in words, where one answered. */
  readonly adapter: string | null;
}

let plan: WebgpuPlan | undefined;

export const webgpuPlan = (): WebgpuPlan => (plan ??= probe());

const probe = (): WebgpuPlan => {
  const script = `import { webgpuAvailability, describeAdapter } from ${JSON.stringify(new URL('../backends/webgpu/node.ts', import.meta.url).href)};
const a = await webgpuAvailability();
console.log(JSON.stringify({ reason: a.reason, adapter: a.adapter && describeAdapter(a.adapter) }));
process.exit(0);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8', env: { ...process.env, ...webgpuEnvironment() }, timeout: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let answer: { reason: string | null; adapter: string | null };
  try {
    answer = JSON.parse(line);
  } catch {
    answer = { reason: `the WebGPU probe did not answer (${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]})`, adapter: null };
  }
  return { run: answer.adapter !== null || WEBGPU_REQUIRED, reason: answer.reason, adapter: answer.adapter };
};
