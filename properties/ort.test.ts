/**
 * ONNX Runtime behind the contract (backends/ort): the adapter is an
 * `AsyncBackend`, so these tests await its kernels directly. Each forward
 * kernel property of the conformance kit (properties/kit/kernels.ts: the same
 * drawn cases, the same float32 tolerances, against the float64 reference)
 * runs on onnxruntime-node and on onnxruntime-web's wasm backend; the backward
 * kernels and the update are declared not offered, and absent; handles are
 * counted and refused across backends. What the kit's own run adds (shrinking,
 * the fixed cases, the checks that a kernel leaves its inputs and earlier
 * results alone) comes with `alexnet verify --backend ort-node` once an
 * asynchronous backend runs under the kit in a tower.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, Handle } from '../core/backend.ts';
import { Tensor } from '../core/tensor.ts';
import { createOrtBackend, NOT_OFFERED, type OrtBackend, type OrtProvider } from '../backends/ort/index.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { type Check, type KernelName, PROPERTIES, propertyOf } from './kit/kernels.ts';
import { compare, maxAbsOf } from './kit/tolerance.ts';

const FORWARD: readonly KernelName[] = ['upload/download', 'reshape', 'concat', 'slice', 'add', 'conv2d', 'linear', 'relu', 'lrn', 'maxPool', 'dropout', 'softmaxCrossEntropy'];
const CASES = 6;
const oracle = createReferenceBackend('reference (oracle)');

type Out = Handle | number;
/**
 * A check's call on an asynchronous backend: the kit's `call` sees a backend
 * whose kernels hand back promises, awaited here (the loss's fields one by one).
 */
const callAsync = async (b: OrtBackend, c: Check, hs: readonly Handle[]): Promise<Out[]> => {
  const face = new Proxy(b, {
    get: (t, k) => (k === 'softmaxCrossEntropy'
      ? (z: Handle, labels: Int32Array) => {
        const r = Promise.resolve(t.softmaxCrossEntropy(z, labels));
        return { probs: r.then((x) => x.probs), dlogits: r.then((x) => x.dlogits), loss: r.then((x) => x.loss) };
      }
      : Reflect.get(t, k)),
  }) as unknown as Backend;
  return Promise.all(c.call(face, hs) as readonly (Out | Promise<Out>)[]);
};

const asTensor = (b: { download(h: Handle): unknown }, o: Out): Tensor =>
  typeof o === 'number' ? Tensor.trusted([1], Float64Array.of(o)) : (b.download(o) as Tensor);

/** One case of a kit property: the subject's outputs against the reference's, under the kit's tolerance. */
const checkOne = async (b: OrtBackend, kernel: KernelName, params: unknown): Promise<number> => {
  const c = propertyOf(kernel).check(params);
  const live0 = b.liveCount();
  const hs = await Promise.all(c.inputs.map((t) => b.upload(t)));
  const out = await callAsync(b, c, hs);
  const got = out.map((o) => asTensor(b, o));
  for (const h of new Set([...hs, ...out.filter((o): o is Handle => typeof o !== 'number')])) b.dispose(h);
  assert.is(b.liveCount(), live0, `${kernel}: handles left alive`);
  const up = (t: Tensor) => oracle.upload(t.as('float64'));
  const want = c.call(oracle, c.inputs.map(up)).map((o) => asTensor(oracle, o));
  const absScale = (which: readonly boolean[] = c.inputs.map(() => true)) =>
    Math.max(...c.call(oracle, c.inputs.map((t, i) => up(which[i] ? t.map(Math.abs) : t))).map((o) => maxAbsOf(asTensor(oracle, o))));
  const tols = c.tolerance(want, absScale);
  let worst = 0;
  got.forEach((t, i) => {
    assert.equal([...t.shape], [...want[i].shape], `${kernel} output ${i} shape`);
    const r = compare(t.data, want[i].data, tols[i]);
    assert.ok(r.ok, `${b.name} ${kernel} on ${JSON.stringify(params)} (${c.edge}): output ${i} at ${r.worstAt}: ${t.data[r.worstAt]}, the reference ${want[i].data[r.worstAt]}: ${r.worstRatio.toFixed(2)}x the float32 allowance`);
    worst = Math.max(worst, r.worstRatio);
  });
  return worst;
};

const kernelsOn = (provider: OrtProvider) => async () => {
  const b = await createOrtBackend({ provider, threads: 1 });
  try {
    const worst: string[] = [];
    for (const kernel of FORWARD) {
      const p = propertyOf(kernel);
      let w = 0;
      for (const params of fc.sample(p.arbitrary, { seed: 24, numRuns: CASES })) w = Math.max(w, await checkOne(b, kernel, params));
      worst.push(`${kernel} ${w.toPrecision(2)}`);
    }
    console.log(`  [ort] ${b.detail}: worst/allowed per kernel over ${CASES} drawn cases: ${worst.join(', ')}`);
    assert.ok(b.sessions() > 0);
  } finally {
    await b.destroy();
  }
};

test('ort-node: every forward kernel property of the kit, on drawn cases, agrees with the reference within float32 tolerance', kernelsOn('node'));
test('ort-wasm: every forward kernel property of the kit, on drawn cases, agrees with the reference within float32 tolerance', kernelsOn('wasm'));

test('the backward kernels and the update are declared not offered, and absent; every kernel of the kit is either offered or declared', async () => {
  const b = await createOrtBackend({ provider: 'node', threads: 1 });
  const declared = Object.keys(NOT_OFFERED).sort();
  assert.equal(declared, ['biasGrad', 'conv2dGradFilter', 'conv2dGradInput', 'dropoutGrad', 'linearGradInput', 'linearGradWeight', 'lrnGrad', 'maxPoolGrad', 'reluGrad', 'sgdUpdate']);
  for (const m of declared) assert.is((b as unknown as Record<string, unknown>)[m], undefined, m);
  for (const p of PROPERTIES) {
    const offered = p.methods.every((m) => typeof (b as unknown as Record<string, unknown>)[m] === 'function');
    assert.ok(offered !== p.methods.some((m) => m in b.notOffered), `${p.kernel}: offered or declared, not both or neither`);
  }
  await b.destroy();
});

test('handles: counted, refused by another backend, and the threads and package said in the detail', async () => {
  const a = await createOrtBackend({ provider: 'node', threads: 1, name: 'ort a' });
  const c = await createOrtBackend({ provider: 'node', threads: 2, name: 'ort b' });
  const h = a.upload(Tensor.trusted([1, 2], Float32Array.of(-1, 2)));
  assert.is(a.liveCount(), 1);
  assert.throws(() => c.relu(h), /a tensor of ort a was handed to ort b/);
  const y = await a.relu(h);
  assert.equal([...a.download(y).data], [0, 2]);
  a.dispose(h);
  a.dispose(y);
  assert.is(a.liveCount(), 0);
  assert.match(a.detail, /^ONNX Runtime 1\.\d+\.\d+ \(onnxruntime-node, CPU execution provider, 1 intra-op thread\)$/);
  assert.match(c.detail, /2 intra-op threads/);
  await a.destroy();
  await c.destroy();
});

test('under the kit in a tower thread: drawn and fixed cases, shrinking and all, with the declined kernels \'not offered\'', async () => {
  const { createTower, ortRecipe } = await import('../backends/remote/index.ts');
  const { verifyKernel } = await import('./kit/run.ts');
  const b = createTower(ortRecipe({ provider: 'node', threads: 1 }), { in: 'thread' });
  try {
    for (const k of ['conv2d', 'maxPool', 'softmaxCrossEntropy'] as const) {
      const r = verifyKernel(b, oracle, propertyOf(k), { seed: 5, cases: 4 });
      assert.is(r.verdict, 'pass', `${k}: ${r.counterexample?.message ?? r.detail ?? ''}`);
    }
    const n = verifyKernel(b, oracle, propertyOf('lrnGrad'), { seed: 5 });
    assert.is(n.verdict, 'not offered');
    assert.match(n.detail!, /no training in JavaScript/);
    assert.is(b.liveCount(), 0);
  } finally {
    b.close();
  }
});

test('alexnet verify --backend ort-wasm: the kernels it offers pass, the rest are not offered, and no training pass is attempted', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', 'verify', '--backend', 'ort-wasm', '--kernels', 'relu,maxPoolGrad', '--network', 'alexnet-mini', '--seed', '3'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /maxPoolGrad +0 +- +[\d.]+ +not offered: ONNX Runtime has no training in JavaScript/);
  assert.match(r.stdout, /network: no alexnet-mini training pass: it needs kernels the backend does not offer/);
  assert.match(r.stdout, /verdict: PASS \(1 kernel checks agree with reference within float32 tolerance; 1 not offered by the backend;/);
});

test.run();
