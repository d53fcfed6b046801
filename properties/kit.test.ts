/**
 * The conformance kit itself: the reference's float32 path passes it; a
 * backend with a bug is caught with the bug's kernel named, a shrunk case and
 * a replay line that replays it; missing kernels, throwing kernels, kernels
 * that write into their inputs or leak handles each get their own verdict;
 * `alexnet verify` on a module of one's own, its JSON and JUnit output, and one
 * clear line for every bad spec.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, Handle } from '../core/backend.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { registerKernelTests, summary } from './conformance.ts';
import { propertyOf } from './kit/kernels.ts';
import { verifyKernel } from './kit/run.ts';
import { compareRuns, routeLikeChecked, runPlacement, verificationInput, verificationParams } from './kit/network.ts';
import { alexnetMini } from '../core/alexnet.ts';
import { Tensor } from '../core/tensor.ts';

const alexnet = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });

const dir = mkdtempSync(join(tmpdir(), 'alexnet-kit-'));
const ref = createReferenceBackend('reference (oracle)');

// The reference fed float32 inputs computes in float64 and rounds once: it passes at any count.
registerKernelTests(test, 'reference backend, float32 inputs', () => createReferenceBackend('reference (float32 inputs)'), {
  spec: 'reference',
  report: (r) => console.log(`  [reference] ${summary(r)}`),
});

/** The reference with one method replaced (`this` stays the backend, so handles stay its own). */
const patched = (patch: (b: Backend) => Partial<Backend>): Backend => {
  const b = createReferenceBackend('patched reference');
  return Object.assign(b, patch(b));
};

test('a kernel that writes into its input, or leaks a handle, is caught and says which', () => {
  const writer = patched((b) => {
    const relu = b.relu.bind(b);
    return { relu: (x: Handle) => { const y = relu(x); (b.download(x).data as Float32Array)[0] = 42; return y; } };
  });
  const w = verifyKernel(writer, ref, propertyOf('relu'), { seed: 1 });
  assert.is(w.verdict, 'fail');
  assert.match(w.counterexample!.message, /wrote into its input 0/);

  let live = 0;
  const leaker = patched((b) => {
    const add = b.add.bind(b);
    return { add: (p: Handle, q: Handle) => { live++; return add(p, q); }, liveCount: () => live };
  });
  const l = verifyKernel(leaker, ref, propertyOf('add'), { seed: 1 });
  assert.is(l.verdict, 'fail');
  assert.match(l.counterexample!.message, /left \d+ handles? alive/);
});

test('a missing kernel and a throwing kernel are rows of their own, not a crash', () => {
  const partial = patched(() => ({ lrnGrad: undefined as unknown as Backend['lrnGrad'] }));
  const m = verifyKernel(partial, ref, propertyOf('lrnGrad'), { seed: 1 });
  assert.is(m.verdict, 'missing');
  assert.match(m.detail!, /no lrnGrad\(\)/);
  const thrower = patched(() => ({ maxPool: () => { throw new Error('no such kernel on this device'); } }));
  const t = verifyKernel(thrower, ref, propertyOf('maxPool'), { seed: 1 });
  assert.is(t.verdict, 'threw');
  assert.is(t.detail, 'no such kernel on this device');
  assert.ok(t.counterexample, 'a throwing kernel still gets its shrunk case');
});

test('a kernel the backend declares it does not offer is its own verdict: reported with the reason, never a failure', async () => {
  const { formatKernelPhase, kernelOk, toJunit } = await import('./kit/report.ts');
  const declining = Object.assign(patched(() => ({ lrnGrad: undefined as unknown as Backend['lrnGrad'] })), {
    notOffered: { lrnGrad: 'no gradients in this runtime', maxPoolGrad: 'no gradients in this runtime' },
  });
  const n = verifyKernel(declining, ref, propertyOf('lrnGrad'), { seed: 1 });
  assert.is(n.verdict, 'not offered');
  assert.is(n.detail, 'no gradients in this runtime');
  assert.is(n.cases, 0);
  assert.ok(kernelOk(n));
  // Declared but present: still not called.
  assert.is(verifyKernel(declining, ref, propertyOf('maxPoolGrad'), { seed: 1 }).verdict, 'not offered');
  // Not declared and absent is still 'missing', a failure.
  const m = verifyKernel(patched(() => ({ lrnGrad: undefined as unknown as Backend['lrnGrad'] })), ref, propertyOf('lrnGrad'), { seed: 1 });
  assert.is(m.verdict, 'missing');
  assert.not.ok(kernelOk(m));
  const phase = { spec: 'declining', detail: 'test', results: [n, m] };
  assert.match(formatKernelPhase(phase, 'reference'), /not offered: no gradients in this runtime/);
  const xml = toJunit({ backend: 'declining', against: 'reference', oracle: 'reference', seed: 1, kernels: [phase], network: null, ok: false, seconds: 0 });
  assert.match(xml, /<skipped message="not offered: no gradients in this runtime"\/>/);
  assert.match(xml, /failures="1" errors="0" skipped="1"/);
});

test('maxPoolGrad that routes a tied window to its last maximum fails on the ties edge', () => {
  // The gradient of max-pooling sent to the last maximum of each window instead of the first.
  const last = patched((b) => ({
    maxPoolGrad: (x: Handle, dy: Handle, p) => {
      const X = b.download(x);
      const [N, C, H, W] = X.shape;
      const D = b.download(dy);
      const [, , OH, OW] = D.shape;
      const dx = new Float64Array(X.size);
      for (let nc = 0; nc < N * C; nc++)
        for (let oy = 0; oy < OH; oy++)
          for (let ox = 0; ox < OW; ox++) {
            let best = -Infinity; let arg = -1;
            for (let ky = 0; ky < p.size; ky++)
              for (let kx = 0; kx < p.size; kx++) {
                const i = (nc * H + oy * p.stride + ky) * W + ox * p.stride + kx;
                if (X.data[i] >= best) { best = X.data[i]; arg = i; }
              }
            dx[arg] += D.data[(nc * OH + oy) * OW + ox];
          }
      return b.upload(X.map((_, i) => dx[i]));
    },
  }));
  const r = verifyKernel(last, ref, propertyOf('maxPoolGrad'), { seed: 4, cases: 200 });
  assert.is(r.verdict, 'fail');
  assert.match(r.counterexample!.edge, /ties/);
});

test('network phase: a near-tie that rounding decides is routed as the checked run did; a routing bug is not excused', () => {
  const t = (d: number[]) => Tensor.trusted([1, 1, 2, 2], Float64Array.from(d));
  const dy = Tensor.trusted([1, 1, 1, 1], Float64Array.of(3));
  const p = { size: 2, stride: 2 };
  // Trusted 5 > 5 - 2e-7; the checked values, 3e-7 away, order them the other way: rounding decides.
  const near = routeLikeChecked(t([5, 5 - 2e-7, 1, 1]), t([5, 5 + 1e-7, 1, 1]), dy, p);
  assert.equal(Array.from(near.dx.data), [0, 3, 0, 0]);
  assert.is(near.note.windows, 1);
  // The same order in both: the trusted first maximum.
  const same = routeLikeChecked(t([5, 4, 1, 1]), t([5, 4, 1, 1 + 1e-7]), dy, p);
  assert.equal(Array.from(same.dx.data), [3, 0, 0, 0]);
  assert.is(same.note.windows, 0);
  // Exact ties (equal values): the first maximum, whatever the checked kernel did.
  assert.equal(Array.from(routeLikeChecked(t([0, 0, 0, 0]), t([0, 0, 0, 0]), dy, p).dx.data), [3, 0, 0, 0]);

  // A backend whose maxPoolGrad sends every window's gradient to its top-left element still
  // fails: the two runs' values agree, so no window is a tie that rounding decides.
  const topLeft = patched((b) => ({
    maxPoolGrad: (x: Handle, d: Handle, pp) => {
      const X = b.download(x); const D = b.download(d);
      const [N, C, H, W] = X.shape; const [, , OH, OW] = D.shape;
      const dx = new Float64Array(X.size);
      for (let nc = 0; nc < N * C; nc++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        dx[(nc * H + oy * pp.stride) * W + ox * pp.stride] += D.data[(nc * OH + oy) * OW + ox];
      }
      return b.upload(X.map((_, i) => dx[i]));
    },
  }));
  const spec = alexnetMini();
  const params = verificationParams(spec, 5);
  const input = verificationInput(spec, 2, 5, true);
  const checked = runPlacement(spec, params, [topLeft], input);
  const report = compareRuns(spec, 2, runPlacement(spec, params, [createReferenceBackend()], input, checked), checked);
  assert.not.ok(report.ok);
  const fine = runPlacement(spec, params, [createReferenceBackend('again')], input);
  assert.ok(compareRuns(spec, 2, runPlacement(spec, params, [createReferenceBackend()], input, fine), fine).ok);
});

test('verify on a module of one\'s own: the broken example fails on lrn alone, and its replay line replays it', () => {
  const json = join(dir, 'r.json');
  const junit = join(dir, 'r.xml');
  const r = alexnet('verify', '--backend', './examples/broken-lrn-backend.ts', '--kernels', 'conv2d,lrn,lrnGrad', '--network', 'none', '--json', json, '--junit', junit);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stdout, /lrn FAILED after \d+ cases?/);
  assert.match(r.stdout, /verdict: FAIL \(\.\/examples\/broken-lrn-backend\.ts lrn\)/);
  const res = JSON.parse(readFileSync(json, 'utf8'));
  const verdicts = Object.fromEntries(res.kernels[0].results.map((k: { kernel: string; verdict: string }) => [k.kernel, k.verdict]));
  assert.equal(verdicts, { conv2d: 'pass', lrn: 'fail', lrnGrad: 'pass' });
  const xml = readFileSync(junit, 'utf8');
  assert.match(xml, /<testsuite name="alexnet verify: kernels of \.\/examples\/broken-lrn-backend\.ts against reference" tests="3" failures="1" errors="0"/);
  assert.match(xml, /<testcase [^>]*name="lrn"[^>]*>\s*<failure type="fail"/);

  const replay = r.stdout.split('\n').find((l) => l.trim().startsWith('replay:'))!.trim().replace(/^replay:\s+alexnet /, '');
  const again = alexnet(...replay.split(' '));
  assert.is(again.status, 1, again.stderr);
  assert.match(again.stdout, /lrn FAILED after 1 case:/);
  const lineOf = (out: string) => out.split('\n').find((l) => l.trim().startsWith('worst:'));
  assert.is(lineOf(again.stdout), lineOf(r.stdout), 'the replay reproduces the same worst element');
});

test('verify on a module whose answers are promises: it runs in a tower of its own; the broken one fails on maxPoolGrad alone, the sound one passes with the network', () => {
  const json = join(dir, 'promises.json');
  const broken = alexnet('verify', '--backend', './examples/broken-promise-backend.ts', '--kernels', 'relu,maxPool,maxPoolGrad,softmaxCrossEntropy', '--network', 'none', '--seed', '3', '--json', json);
  assert.is(broken.status, 1, broken.stderr);
  assert.match(broken.stdout, /its answers are promises, so it runs in a worker thread of its own/);
  assert.match(broken.stdout, /maxPoolGrad FAILED after \d+ cases?/);
  assert.match(broken.stdout, /verdict: FAIL \(\.\/examples\/broken-promise-backend\.ts maxPoolGrad\)/);
  const res = JSON.parse(readFileSync(json, 'utf8'));
  const verdicts = Object.fromEntries(res.kernels[0].results.map((k: { kernel: string; verdict: string }) => [k.kernel, k.verdict]));
  assert.equal(verdicts, { relu: 'pass', maxPool: 'pass', maxPoolGrad: 'fail', softmaxCrossEntropy: 'pass' });

  const sound = alexnet('verify', '--backend', './examples/promise-backend.ts', '--kernels', 'maxPoolGrad,softmaxCrossEntropy,sgdUpdate', '--cases', '5', '--network', 'alexnet-mini', '--seed', '3');
  assert.is(sound.status, 0, sound.stdout + sound.stderr);
  assert.match(sound.stdout, /verdict: PASS \(3 kernel checks and the alexnet-mini training pass agree/);
});

test('verify --backend cpu with the network phase on alexnet-mini passes', () => {
  const r = alexnet('verify', '--backend', 'cpu', '--kernels', 'relu,linear', '--cases', '3', '--network', 'alexnet-mini', '--seed', '5');
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /network: alexnet-mini/);
  assert.match(r.stdout, /verdict: PASS \(2 kernel checks and the alexnet-mini training pass agree/);
});

test('every bad spec or module is one clear line and exit code 2', () => {
  const write = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text); return f; };
  const cases: [string[], RegExp][] = [
    [['--backend', 'cuda'], /'cuda' is not a backend; give one of reference, cpu, gpu/],
    [['--backend', 'cpu,gpu,cpu'], /is not a backend spec; give one spec, or two/],
    [['--backend', join(dir, 'absent.ts')], /no such file/],
    [['--backend', write('none.ts', 'export const make = 1;\n')], /exports no createBackend function \(exports: make\)/],
    [['--backend', write('throws.ts', 'throw new Error("cannot find my GPU");\n')], /the module threw while loading: cannot find my GPU/],
    [['--backend', write('notbackend.ts', 'export const createBackend = () => ({ name: "x" });\n')], /not a Backend: it has no upload, download, dispose, liveCount/],
    [['--kernels', 'conv3d'], /'conv3d' is not a kernel/],
    [['--network', 'lenet'], /--network must be one of alexnet, alexnet-mini, none/],
    [['--replay', '0:1'], /--replay replays one case/],
  ];
  for (const [args, message] of cases) {
    const r = alexnet('verify', '--network', 'none', ...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.not.match(r.stderr, '    at ');
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
