/**
 * gpu.js's WebGPU mode as a backend (backends/gpujs/webgpu.ts), awaited
 * directly: every kernel of the contract against the reference on the kit's
 * own cases and tolerances (properties/kit/awaiting.ts: drawn cases and the
 * fixed ones, fc weights past 2^24 entries included), fc6's 151 MB weights in
 * one binding, training steps that leave no device buffer behind and compile
 * each kernel once, sync and destroy, and the adapter it ran on.
 *
 * Dawn finds a Vulkan driver (SwiftShader, where the machine has no GPU) only
 * through variables the dynamic loader reads when a process starts, so the
 * checks run in a child process started with webgpuEnvironment() added
 * (properties/dawn-checks.ts); each check is one test here.
 *
 * Where no adapter answers, the tests are skipped with the reason; with
 * ALEXNET_REQUIRE_WEBGPU=1 (CI) they fail.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { webgpuEnvironment } from '../backends/gpujs/webgpu.ts';
import { CHECKS, type CheckResult } from './dawn-checks.ts';

const REQUIRED = process.env.ALEXNET_REQUIRE_WEBGPU === '1';
/** The whole child run, SwiftShader's compiles included: about 45 s on two busy cores. */
const TIMEOUT_MS = 300_000;

interface Availability { readonly available: boolean; readonly reason: string | null }

/**
 * Starts the checks' process with Dawn's environment: it says at once whether
 * an adapter answers, and runs the checks when told to (`go`), each result
 * resolving as it comes.
 */
const startChecks = () => {
  const results = new Map<string, CheckResult>();
  const waiting = new Map<string, (r: CheckResult) => void>();
  let ended: string | null = null;
  let availability!: (a: Availability) => void;
  const available = new Promise<Availability>((res) => { availability = res; });
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./dawn-checks.ts', import.meta.url))], {
    env: { ...process.env, ...webgpuEnvironment(), ALEXNET_WEBGPU_WAIT: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let timer: NodeJS.Timeout | undefined;
  // Between the availability and `go` the process must not hold this one's event loop: if
  // the suite never runs (an earlier one bailed), this process ends, the child's stdin
  // closes, and the child ends too.
  const hold = (on: boolean): void => {
    for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[]) {
      if (on) h.ref(); else h.unref();
    }
  };
  let out = '';
  let err = '';
  const settle = (r: CheckResult): void => {
    results.set(r.name, r);
    waiting.get(r.name)?.(r);
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (!line.startsWith('@@ ')) continue;
      const m = JSON.parse(line.slice(3)) as { availability?: Availability; fatal?: string; done?: boolean } & Partial<CheckResult>;
      if (m.availability) {
        hold(false);
        availability(m.availability);
      }
      else if (m.fatal) ended = `the checks stopped: ${m.fatal.split('\n')[0]}`;
      else if (m.name) settle(m as CheckResult);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => { err = (err + chunk).slice(-4000); });
  child.stdin.on('error', () => {});
  child.on('exit', (code, signal) => {
    clearTimeout(timer);
    const why = ended ?? `the check process ended (${signal ? `signal ${signal}` : `exit code ${code}`})${err.trim() ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
    availability({ available: false, reason: why });
    for (const name of CHECKS) if (!results.has(name)) settle({ name, ok: false, message: why, seconds: 0 });
  });
  return {
    available,
    result: (name: string): Promise<CheckResult> => {
      const r = results.get(name);
      return r ? Promise.resolve(r) : new Promise((res) => waiting.set(name, res));
    },
    /** The checks run from here on (not beside the suites before this one). */
    go: () => {
      hold(true);
      timer = setTimeout(() => child.kill(), TIMEOUT_MS);
      child.stdin.end('go\n');
    },
    stop: () => { if (child.exitCode === null) child.kill(); },
  };
};

const checks = startChecks();
const availability = await checks.available;
if (!availability.available && !REQUIRED) checks.stop();
const run = availability.available || REQUIRED;

const test = suite('webgpu backend');
for (const name of CHECKS) {
  const fn = async () => {
    if (!availability.available) throw new Error(`WebGPU is required (ALEXNET_REQUIRE_WEBGPU=1) but ${availability.reason}`);
    const r = await checks.result(name);
    assert.ok(r.ok, r.message);
    console.log(`  ${name}: ${r.message} (${r.seconds.toFixed(1)} s)`);
  };
  if (run) test(name, fn);
  else {
    console.log(`  skipped: ${name}: ${availability.reason}`);
    test.skip(name, fn);
  }
}
test.before(() => { if (availability.available) checks.go(); });
test.after(() => checks.stop());
test.run();
