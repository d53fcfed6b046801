/**
 * ONNX out: a network exported as ONNX (core/onnx/export.ts) is ours in
 * ONNX Runtime. alexnet-mini from scaled random parameters runs in
 * onnxruntime-node and in onnxruntime-web's wasm backend, at two batch sizes
 * through one session (the batch is dynamic), to the reference's logits within
 * the kit's float32 network tolerance; the graph holds what docs/checkpoints.md
 * says (our names, the per-tower LRN in ONNX's alpha/size form, grouped Convs);
 * ONNX's own checker accepts it; `alexnet export --onnx` writes it from a
 * checkpoint, and bad input gets one line and the documented exit code.
 *
 * ONNX's checker is Python's `onnx` (Debian's python3-onnx): without it that
 * test is skipped with the reason; with ALEXNET_REQUIRE_ONNX=1 (CI) it fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnetMini, type NetSpec } from '../core/alexnet.ts';
import { saveCheckpoint, type TrainingCheckpoint } from '../core/checkpoint.ts';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { biasName, type Params, weightName } from '../core/params.ts';
import { exportOnnx, onnxLrn } from '../core/onnx/export.ts';
import { decodeModel, OPSET } from '../core/onnx/proto.ts';
import { Tensor } from '../core/tensor.ts';
import { loadOrt, type OrtModule, type OrtProvider } from '../backends/ort/index.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { verificationInput, verificationParams } from './kit/network.ts';
import { compare, maxAbsOf, networkTolerances, scaled } from './kit/tolerance.ts';
import { initialState } from '../core/train/loop.ts';
import { tinyConfig, tinyData, tinySetup } from './train-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'alexnet-onnx-'));
const spec = alexnetMini();
const params = verificationParams(spec, 11);
const bytes = exportOnnx(spec, params, { producerVersion: 'test' });

const referenceLogits = (s: NetSpec, p: Params, x: Tensor): Tensor => {
  const net = orThrow(Network.create(s, p, [createReferenceBackend()]));
  try {
    return net.forward(x);
  } finally {
    net.dispose();
  }
};

const runOrt = async (ort: OrtModule, provider: OrtProvider, model: Uint8Array, xs: readonly Tensor[]): Promise<Tensor[]> => {
  const session = await ort.InferenceSession.create(model, provider === 'node' ? { executionProviders: ['cpu'], intraOpNumThreads: 1 } : { executionProviders: ['wasm'] });
  const out: Tensor[] = [];
  for (const x of xs) {
    const r = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) });
    out.push(Tensor.trusted([...r.logits.dims], Float32Array.from(r.logits.data as Float32Array)));
  }
  await session.release();
  return out;
};

/** The logits of the exported model in ONNX Runtime equal ours within the kit's float32 network tolerance. */
const agrees = async (provider: OrtProvider) => {
  const ort = await loadOrt(provider);
  if (provider === 'wasm') ort.env.wasm.numThreads = 1;
  const inputs = [1, 3].map((n) => verificationInput(spec, n, 5 + n, false).x);
  const got = await runOrt(ort, provider, bytes, inputs);
  inputs.forEach((x, i) => {
    const want = referenceLogits(spec, params, x);
    assert.equal([...got[i].shape], [...want.shape], 'logits shape');
    const rtol = networkTolerances(spec, x.shape[0]).logits;
    const r = compare(got[i].data, want.data, scaled(rtol, maxAbsOf(want)));
    assert.ok(r.ok, `${provider}, batch ${x.shape[0]}: logit ${r.worstAt} is ${got[i].data[r.worstAt]}, ours ${want.data[r.worstAt]}: ${r.worstRatio.toFixed(2)}x the float32 tolerance (rtol ${rtol.toExponential(2)})`);
    console.log(`  [onnx] ort-${provider} batch ${x.shape[0]}: worst logit at ${r.worstRatio.toExponential(2)} of the float32 network tolerance`);
  });
};

test('the exported alexnet-mini runs in onnxruntime-node to our logits, batch 1 and 3 through one session', () => agrees('node'));
test('the exported alexnet-mini runs in onnxruntime-web (wasm) to our logits, batch 1 and 3 through one session', () => agrees('wasm'));

test('the graph: our names as initializers, grouped Convs, the per-tower LRN as Split, two LRNs in ONNX\'s alpha/size form, Concat', () => {
  const m = decodeModel(bytes);
  assert.is(m.opset_import[0].version, OPSET);
  assert.ok(OPSET >= 13);
  const names = m.graph.initializer.map((t) => t.name);
  for (const l of spec.layers) for (const n of [weightName(l.name), biasName(l.name)]) {
    assert.ok(names.includes(n), n);
    const t = m.graph.initializer.find((i) => i.name === n)!;
    assert.equal(t.dims, [...params.get(n)!.shape], `${n} dims`);
    const stored = new Float32Array(t.raw_data.buffer.slice(t.raw_data.byteOffset, t.raw_data.byteOffset + t.raw_data.byteLength));
    assert.ok(stored.every((v, i) => v === Math.fround(params.get(n)!.data[i])), `${n} values`);
  }
  const ops = m.graph.node.map((n) => n.op_type);
  assert.is(ops.filter((o) => o === 'LRN').length, 4, 'two LRNs after conv1 and after conv2');
  assert.is(ops.filter((o) => o === 'Split').length, 2);
  assert.is(ops.filter((o) => o === 'Dropout').length, 0, 'inference: no dropout');
  const lrn = m.graph.node.find((n) => n.op_type === 'LRN')!;
  const attr = (n: typeof lrn, k: string) => n.attribute.find((a) => a.name === k)!;
  assert.is(attr(lrn, 'size').i, 5);
  assert.ok(Math.abs(attr(lrn, 'alpha').f! - 5e-4) < 1e-10, 'the paper\'s alpha 1e-4 on the plain sum is ONNX alpha 5e-4 with size 5');
  assert.is(attr(lrn, 'bias').f, 2);
  const groups = Object.fromEntries(m.graph.node.filter((n) => n.op_type === 'Conv').map((n) => [n.name, attr(n, 'group').i]));
  assert.equal(groups, { conv1: 1, conv2: 2, conv3: 1, conv4: 2, conv5: 2 });
  assert.equal(onnxLrn({ k: 2, n: 2, alpha: 1e-4, beta: 0.75 }), { size: 3, alpha: 1e-4 * 3, beta: 0.75, bias: 2 }, 'an even n sums 2 floor(n/2) + 1 channels');
});

/** The first python that imports onnx, or why there is none. */
const findOnnx = (): { python: string; version: string } | { reason: string } => {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return { reason: 'no python3 here imports onnx (install Debian\'s python3-onnx: apt-get install python3-onnx)' };
};
const onnxPy = findOnnx();
const requireOnnx = process.env.ALEXNET_REQUIRE_ONNX === '1';

if ('python' in onnxPy || requireOnnx) {
  test(`onnx.checker accepts the exported model (full check, shape inference included)${'python' in onnxPy ? ` (onnx ${onnxPy.version})` : ''}`, () => {
    if (!('python' in onnxPy)) return assert.unreachable(`ALEXNET_REQUIRE_ONNX=1 but ${onnxPy.reason}`);
    const file = join(dir, 'mini.onnx');
    writeFileSync(file, bytes);
    const r = spawnSync(onnxPy.python, ['-c', 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.opset_import[0].version)', file], { encoding: 'utf8' });
    assert.is(r.status, 0, `onnx.checker refused the model:\n${r.stderr}`);
    assert.is(r.stdout.trim(), String(OPSET));
  });
} else {
  test.skip(`onnx.checker: ${onnxPy.reason}`);
  console.log(`  [onnx] skipped onnx.checker: ${onnxPy.reason}`);
}

// ---- the command ----------------------------------------------------------------------------

const alexnet = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });

const checkpoint = (): { path: string; ck: TrainingCheckpoint } => {
  const { spec: s, prep, net } = tinySetup(3, tinyData(100, 10));
  const c = tinyConfig();
  const ck: TrainingCheckpoint = {
    spec: s, params: net.parameters(), velocity: net.parameters(), prep, classNames: Array.from({ length: s.classes }, (_, i) => `class ${i}`),
    data: { kind: 'synthetic', seed: 7, train: 100, test: 10, size: 20, channels: 3, classes: 10 }, split: { val: 40 },
    config: c, state: { ...initialState(c), epoch: 1, step: 3, totalSteps: 5 }, backend: 'reference',
  };
  net.dispose();
  const path = join(dir, 'ck.safetensors');
  saveCheckpoint(path, ck);
  return { path, ck };
};

test('alexnet export --onnx writes the checkpoint\'s network, which onnxruntime-node runs to our logits', async () => {
  const { path, ck } = checkpoint();
  const out = join(dir, 'ck.onnx');
  const r = alexnet('export', '--checkpoint', path, '--onnx', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*ck\.onnx: .*opset 13/);
  const m = decodeModel(readFileSync(out));
  assert.is(JSON.parse(m.metadata_props.find((p) => p.key === 'classes')!.value).length, ck.spec.classes);
  const x = Tensor.trusted([2, ...ck.spec.input], Float32Array.from({ length: 2 * ck.spec.input.reduce((a, b) => a * b) }, (_, i) => Math.sin(i)));
  const [got] = await runOrt(await loadOrt('node'), 'node', readFileSync(out), [x]);
  const want = referenceLogits(ck.spec, ck.params, x);
  const r2 = compare(got.data, want.data, scaled(networkTolerances(ck.spec, 2).logits, maxAbsOf(want)));
  assert.ok(r2.ok, `logit ${r2.worstAt}: ${got.data[r2.worstAt]}, ours ${want.data[r2.worstAt]}`);
});

test('alexnet export: a missing checkpoint, a missing --onnx and an unwritable path each get one line and the documented exit code', () => {
  const none = alexnet('export', '--checkpoint', join(dir, 'nothing.safetensors'), '--onnx', join(dir, 'x.onnx'));
  assert.is(none.status, 1);
  assert.match(none.stderr, /^alexnet: no checkpoint at .*nothing\.safetensors\n$/);
  const { path } = checkpoint();
  const flag = alexnet('export', '--checkpoint', path);
  assert.is(flag.status, 2);
  assert.match(flag.stderr, /^alexnet: export needs --onnx FILE.*\n$/);
  const folder = join(dir, 'a-folder');
  mkdirSync(folder, { recursive: true });
  const bad = alexnet('export', '--checkpoint', path, '--onnx', join(dir, 'no', 'such', 'dir', 'x.onnx'));
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^alexnet: cannot write .*x\.onnx: its folder does not exist; give --onnx a file in a writable folder\n$/);
  assert.not.ok(existsSync(join(dir, 'x.onnx')));
});

test('a missing ONNX Runtime package is one line naming the install command', async () => {
  for (const p of ['node', 'wasm'] as const) {
    try {
      await loadOrt(p, (name) => import(`${name}-not-installed-here`));
      assert.unreachable('loaded a package that is not there');
    } catch (e) {
      assert.is((e as Error).name, 'ArgumentError');
      assert.match((e as Error).message, p === 'node' ? /^onnxruntime-node is not installed; install it with: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/ : /^onnxruntime-web is not installed; install it with: npm install onnxruntime-web$/);
    }
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
