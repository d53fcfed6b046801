/**
 * The benchmark suite works: a quick run writes one valid record, the report
 * renders it, bad flags are one clear line, regressions are flagged by the
 * rule, the profile covers every kernel of a training step with the right
 * multiply-adds, and the TensorFlow.js and PyTorch peers compute the same
 * network as the reference. Nothing here asserts a speed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import { alexnetMini, describe } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { dropoutMasks, Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { batchOf, handleSyncer, OursCases, randomTensor } from '../bench/ours.ts';
import { setupTfjs, TfAlexnet, toNhwc } from '../bench/peers/tfjs.ts';
import { findTorch, TORCH_MISSING, TorchPeer } from '../bench/peers/torch.ts';
import { QUICK } from '../bench/plan.ts';
import { type LayerCases, profile } from '../bench/profile.ts';
import { type BenchRecord, regressions, validateRecord } from '../bench/record.ts';
import { throughputTable } from '../bench/table.ts';
import type { Stat } from '../bench/stats.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
const history = path.join(tmp, 'history.jsonl');
const bench = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { encoding: 'utf8', timeout: 180_000 });

test('--quick runs and appends one valid record to the history it is given', () => {
  const r = bench('--quick', '--history', history);
  assert.is(r.status, 0, `exit ${r.status}\n${r.stderr.slice(-2000)}`);
  const lines = readFileSync(history, 'utf8').trim().split('\n');
  assert.is(lines.length, 1);
  const rec = JSON.parse(lines[0]) as BenchRecord;
  assert.equal(validateRecord(rec), []);
  assert.is(rec.plan.mode, 'quick');
  assert.equal(rec.subjects.map((s) => s.id), [...QUICK.subjects]);
  for (const s of rec.subjects) {
    if (!s.available) continue;
    assert.ok(s.throughput.length + s.skipped.length > 0, `${s.id} measured or skipped something`);
    for (const t of s.throughput) assert.ok(t.imagesPerSecond.n >= 2, `${s.id} ${t.kind} b${t.batch} summarises at least two timed runs`);
  }
  assert.match(r.stdout, 'Throughput');
  if (rec.subjects.some((s) => s.id === 'tfjs-wasm' && s.available && s.throughput.length > 0)) assert.match(r.stdout, 'vs TF.js wasm');
  assert.ok(rec.machine.cores >= 1 && rec.machine.node === process.version);
});

test('--report renders the charts and the Markdown from that history, and leaves README alone', () => {
  if (!existsSync(history)) assert.unreachable('the quick run wrote no history');
  const readme = readFileSync('README.md', 'utf8');
  const out = path.join(tmp, 'report');
  const results = path.join(tmp, 'RESULTS.md');
  const r = bench('--report', '--history', history, '--report-dir', out, '--results', results);
  assert.is(r.status, 0, r.stderr);
  for (const f of ['throughput.svg', 'layers.svg', 'layer-time.svg']) {
    const svg = readFileSync(path.join(out, f), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg.trim(), /<\/svg>$/);
    assert.not.match(svg, /NaN|undefined|Infinity/);
  }
  const md = readFileSync(results, 'utf8');
  for (const h of ['## Throughput', '## Where the time goes', '## Per layer', '## History']) assert.match(md, h);
  assert.is(readFileSync('README.md', 'utf8'), readme);
});

test('a bad flag or value is one line naming it and exit code 2', () => {
  for (const [args, says] of [[['--quik'], "'--quik'"], [['--only', 'tfjs-gpu'], 'tfjs-gpu'], [['--seed', 'x'], '--seed'], [['--results', 'x.md'], '--report']] as const) {
    const r = bench(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, says);
    assert.not.match(r.stderr, '    at ');
  }
});

const stat = (v: number): Stat => ({ median: v, min: v, max: v, n: 3 });
const fakeRecord = (key: string, mode: 'full' | 'quick', ips: number, gflops: number): BenchRecord => ({
  schema: 1, date: new Date(0).toISOString(), commit: 'abc', dirty: false, command: 'npm run bench',
  machine: { key, cpu: 'cpu', cores: 2, memoryGiB: 1, os: 'os', node: 'v20', gl: null, glNote: 'none', load: { start: 0, end: 0 } },
  plan: { ...QUICK, mode },
  model: { name: 'alexnet', input: [3, 227, 227], macsPerImage: 1, layers: [] },
  subjects: [{
    id: 'cpu', label: 'cpu', kind: 'ours', available: true, skipped: [], wallSeconds: 1,
    throughput: [{ kind: 'inference', batch: 1, msPerBatch: stat(1000 / ips), imagesPerSecond: stat(ips) }],
    profile: { batch: 1, syncMs: stat(0), kernels: [{ layer: 'conv1', kernel: 'conv2d', pass: 'forward', macs: 1e9, ms: stat(2000 / gflops), gflops }] },
  }],
  flags: [],
  wallSeconds: 1,
});

test('a figure is flagged when it drops more than 10% against the previous record of the same machine and mode', () => {
  const before = [fakeRecord('m', 'full', 10, 5), fakeRecord('other', 'full', 100, 100), fakeRecord('m', 'quick', 100, 100)];
  assert.equal(regressions(fakeRecord('m', 'full', 9.1, 4.6), before), []);
  const flags = regressions(fakeRecord('m', 'full', 8.9, 4.4), before);
  assert.equal(flags.map((f) => f.figure), ['inference b1 img/s', 'conv1 conv2d (forward) b1 GFLOP/s']);
  assert.ok(Math.abs(flags[0].drop - 0.11) < 1e-9);
  assert.equal(regressions(fakeRecord('new machine', 'full', 1, 1), before), []);
});

const spec = alexnetMini();
const rows = orThrow(describe(spec));
const sgd = { lr: 1e-3, momentum: 0.9, weightDecay: 5e-4 };
const tiny = { warmup: 1, repeats: 2, minRepeats: 2, budgetMs: 0, capMs: 60_000 };

test('the profile times every kernel of a training step, with the shapes\' multiply-adds, on one context and on two', () => {
  for (const towers of [1, 2]) {
    const placement = Array.from({ length: towers }, (_, t) => createReferenceBackend(`reference #${t}`));
    const N = 2;
    const cases = new OursCases(spec, rows, placement, N, 5, true, sgd);
    const layers: LayerCases<unknown>[] = rows.map((_, i) => ({ make: () => cases.layer(i) as never, release: () => cases.release() }));
    const p = profile(N, layers, handleSyncer as never, tiny);
    assert.equal(validateRecord({ ...fakeRecord('m', 'quick', 1, 1), subjects: [{ ...fakeRecord('m', 'quick', 1, 1).subjects[0], profile: p }] }), []);
    for (const [i, r] of rows.entries()) {
      const ks = p.kernels.filter((k) => k.layer === r.name);
      const learned = r.spec.kind === 'conv' ? ['conv2d', 'conv2dGradInput', 'conv2dGradFilter'] : ['linear', 'linearGradInput', 'linearGradWeight'];
      for (const k of learned) {
        if (i === 0 && k.endsWith('GradInput')) { assert.not.ok(ks.some((x) => x.kernel === k), `${r.name} needs no input gradient`); continue; }
        const row = ks.find((x) => x.kernel === k);
        assert.ok(row, `${r.name} ${k} (${towers} towers)`);
        assert.is(row!.macs, r.macs * N, `${r.name} ${k} multiply-adds`);
      }
      for (const a of r.spec.after) {
        const name = { relu: 'relu', lrn: 'lrn', pool: 'maxPool', dropout: 'dropout' }[a];
        assert.ok(ks.some((x) => x.kernel === name && x.pass === 'forward'), `${r.name} ${name}`);
        assert.ok(ks.some((x) => x.kernel === `${name}Grad` && x.pass === 'backward'), `${r.name} ${name}Grad`);
      }
      assert.ok(ks.some((x) => x.kernel === 'sgdUpdate' && x.pass === 'update'), `${r.name} update`);
      const exchanges = ks.some((x) => x.kernel === 'transfer');
      assert.is(exchanges, towers === 2 && r.spec.link === 'both', `${r.name}: transfers only where a layer reads both towers`);
    }
  }
});

test('the TensorFlow.js peer is the same network: logits, loss and one SGD step match the reference', async () => {
  await setupTfjs('cpu');
  const params = initParams(spec, 11);
  const ref = orThrow(Network.create(spec, params, [createReferenceBackend()]));
  const peer = new TfAlexnet(spec, rows, params);
  const { x, labels } = batchOf(spec, 3, 11);
  const xt = toNhwc(x);
  const want = ref.forward(x);
  const got = tf.tidy(() => peer.logits(xt).dataSync());
  const scale = Math.max(...Array.from(want.data, Math.abs));
  for (let i = 0; i < want.size; i++) assert.ok(Math.abs(got[i] - want.data[i]) <= 1e-5 * scale, `logit ${i}: ${got[i]} vs ${want.data[i]}`);
  const masks = dropoutMasks(spec, 3, new Rng(2));
  const tm = new Map([...masks].map(([k, v]) => [k, tf.tensor2d(v.data as Float32Array, [v.shape[0], v.shape[1]])]));
  const step = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };
  const r = ref.trainStep(x, labels, step, { masks });
  const loss = peer.trainStep(xt, peer.oneHot(labels), tm, step);
  assert.ok(Math.abs(loss - r.loss) < 1e-5 * Math.abs(r.loss), `loss ${loss} vs ${r.loss}`);
  // After the step, fc8's weights (peer layout [K, M]) equal the reference's ([M, K]).
  const w = ref.parameters().get('fc8.weight')!;
  const before = params.get('fc8.weight')!;
  const pw = peer.layers[7].w[0].dataSync();
  const [M, K] = w.shape;
  let moved = 0;
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) {
    const a = w.data[m * K + k];
    moved = Math.max(moved, Math.abs(a - before.data[m * K + k]));
    assert.ok(Math.abs(pw[k * M + m] - a) <= 1e-6 + 1e-4 * Math.abs(a), `fc8.weight[${m}, ${k}]`);
  }
  assert.ok(moved > 1e-5, 'the step moved the weights');
  peer.dispose();
});

test('the peer normalises each tower\'s half of the channels apart, as the project\'s network does', async () => {
  await setupTfjs('cpu');
  const peer = new TfAlexnet(spec, rows, initParams(spec, 3));
  const ref = createReferenceBackend();
  const C = 8;
  const x = randomTensor([1, C, 3, 3], new Rng(4), 30);
  const halves = [0, 1].map((h) => ref.download(ref.lrn(ref.slice(ref.upload(x), h * 4, 4), spec.lrn)));
  const got = tf.tidy(() => tf.transpose(peer.lrn(toNhwc(x)), [0, 3, 1, 2]).dataSync());
  const whole = ref.download(ref.lrn(ref.upload(x), spec.lrn));
  let acrossBoundary = 0;
  for (let c = 0; c < C; c++) for (let i = 0; i < 9; i++) {
    const want = halves[c >> 2].data[(c % 4) * 9 + i];
    assert.ok(Math.abs(got[c * 9 + i] - want) <= 1e-5 * Math.abs(want), `channel ${c}`);
    acrossBoundary = Math.max(acrossBoundary, Math.abs(whole.data[c * 9 + i] - want) / Math.abs(want));
  }
  assert.ok(acrossBoundary > 1e-3, 'the check can tell a grouped LRN from one across all channels');
  peer.dispose();
});

test('the wasm peer\'s filter gradient (supplied by the suite) equals TensorFlow.js cpu\'s, strided and padded', async () => {
  const rng = new Rng(9);
  const cases = [
    { x: [2, 23, 23, 3], f: [11, 11, 3, 4], s: 4, p: 0 },
    { x: [1, 9, 9, 5], f: [5, 5, 5, 3], s: 1, p: 2 },
    { x: [3, 8, 7, 4], f: [3, 3, 4, 2], s: 2, p: 1 },
  ];
  const run = (c: typeof cases[number], xd: Float32Array, dyShape: number[], dyd: Float32Array) =>
    (tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xd, c.x), dy: tf.tensor(dyd, dyShape) }, { strides: c.s, pad: c.p, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: c.f } as never) as tf.Tensor).dataSync();
  for (const c of cases) {
    const OH = Math.floor((c.x[1] + 2 * c.p - c.f[0]) / c.s) + 1;
    const OW = Math.floor((c.x[2] + 2 * c.p - c.f[1]) / c.s) + 1;
    const dyShape = [c.x[0], OH, OW, c.f[3]];
    const xd = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => rng.normal());
    const dyd = Float32Array.from({ length: dyShape.reduce((a, b) => a * b) }, () => rng.normal());
    await setupTfjs('cpu');
    const want = run(c, xd, dyShape, dyd);
    await setupTfjs('wasm');
    const got = run(c, xd, dyShape, dyd);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `${JSON.stringify(c)} [${i}]: ${got[i]} vs ${want[i]}`);
  }
});

const torch = findTorch();
/** CI sets ALEXNET_REQUIRE_TORCH=1: there a missing PyTorch fails the test instead of skipping it. */
const torchTest = (name: string, fn: () => void) => {
  if ('python' in torch || process.env.ALEXNET_REQUIRE_TORCH === '1') test(name, fn);
  else {
    console.log(`  skipped: ${name}: ${torch.reason}`);
    test.skip(name, fn);
  }
};

torchTest('the PyTorch peer is the same network: logits, loss and one SGD step match the reference', () => {
  if (!('python' in torch)) throw new Error(torch.reason);
  const params = initParams(spec, 11);
  const ref = orThrow(Network.create(spec, params, [createReferenceBackend()]));
  const step = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };
  const peer = TorchPeer.start(torch, spec, params, { threads: 1, seed: 1, sgd: step });
  try {
    const { x, labels } = batchOf(spec, 3, 11);
    peer.putBatch('t', x, labels);
    const want = ref.forward(x);
    const got = peer.logits('t');
    assert.equal([...got.shape], [...want.shape]);
    const scale = Math.max(...Array.from(want.data, Math.abs));
    for (let i = 0; i < want.size; i++) assert.ok(Math.abs(got.data[i] - want.data[i]) <= 1e-5 * scale, `logit ${i}: ${got.data[i]} vs ${want.data[i]}`);
    const masks = dropoutMasks(spec, 3, new Rng(2));
    peer.putMasks('mask.', masks);
    const r = ref.trainStep(x, labels, step, { masks });
    const { loss } = peer.train('t', 'mask.');
    assert.ok(Math.abs(loss - r.loss) < 1e-5 * Math.abs(r.loss), `loss ${loss} vs ${r.loss}`);
    // After the step every parameter (same layout on both sides) equals the reference's.
    const after = peer.parameters();
    let moved = 0;
    for (const [name, w] of ref.parameters()) {
      const pw = after.get(name)!;
      const before = params.get(name)!;
      assert.equal([...pw.shape], [...w.shape], name);
      for (let i = 0; i < w.size; i++) {
        moved = Math.max(moved, Math.abs(w.data[i] - before.data[i]));
        assert.ok(Math.abs(pw.data[i] - w.data[i]) <= 1e-6 + 1e-4 * Math.abs(w.data[i]), `${name}[${i}]: ${pw.data[i]} vs ${w.data[i]}`);
      }
    }
    assert.ok(moved > 1e-5, 'the step moved the weights');
  } finally {
    peer.close();
    ref.dispose();
  }
});

test('a peer that is not installed keeps its throughput column, saying so', () => {
  const base = fakeRecord('m', 'quick', 2, 1);
  const missing = { id: 'pytorch', label: 'PyTorch', kind: 'peer' as const, available: false, reason: TORCH_MISSING, throughput: [], skipped: [], wallSeconds: 0 };
  const rec: BenchRecord = { ...base, subjects: [...base.subjects, missing] };
  assert.equal(validateRecord(rec), []);
  for (const format of ['text', 'md'] as const) {
    const t = throughputTable(rec, format);
    assert.match(t, 'vs PyTorch');
    assert.match(t, 'not installed');
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
