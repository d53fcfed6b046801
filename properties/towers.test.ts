/**
 * Towers side by side (backends/remote): the executor runs a placement of two
 * towers in worker threads, or in processes of their own, and
 *
 * - gets the same bits as the same backends one after the other in this
 *   thread: a training step, the loss, every gradient and parameter, for the
 *   cpu backend in threads and gpu.js in processes (on GL);
 * - moves the same tensors between the towers (the same transfer log: layers,
 *   directions, bytes), straight from one tower to the other: the caller waits
 *   once per forward pass, for the logits;
 * - serves asynchronous backends (core/backend.ts, `AsyncBackend`) the same
 *   way, their answers awaited in the order of the calls however they settle;
 * - reports a kernel that fails in a tower, naming the kernel and the tower,
 *   and one whose result has another shape than its handle;
 *   a tower process that ends; a backend that cannot start; a handle used
 *   after it was disposed or handed to the other tower.
 */
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnetMini } from '../core/alexnet.ts';
import type { Backend } from '../core/backend.ts';
import { Network } from '../core/net.ts';
import { initParams, type Params } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import { orThrow } from '../core/errors.ts';
import { createCpuBackend } from '../backends/cpu/index.ts';
import { cpuRecipe, cpuTowers, createTower, gpuRecipe, gpuTowers, type RemoteBackend } from '../backends/remote/index.ts';
import { FAILING_MESSAGE } from './fixtures/failing-backend.ts';
import { LATE_FAILURE } from './fixtures/late-backend.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { gpuBackend, planFor, report } from './gl.ts';
import { randn } from './support.ts';

const spec = alexnetMini();
const params = initParams(spec, 11);
const N = 3;
const x = randn([N, ...spec.input], 5, 1, 'float32');
const labels = Int32Array.from({ length: N }, (_, i) => (i * 3) % spec.classes);
const sgd = { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 };

interface Outcome { losses: number[]; logits: Tensor; grads: Params; params: Params; transfers: string[] }

/** Two training steps, then the gradients of a third batch, then the parameters. */
const train = (placement: Backend[]): Outcome => {
  const net = orThrow(Network.create(spec, params, placement));
  try {
    const losses = [0, 1].map((s) => net.trainStep(x, labels, sgd, { rng: new Rng(100 + s) }).loss);
    const g = net.gradients(x, labels, { train: true, rng: new Rng(7) });
    losses.push(g.loss);
    return { losses, logits: g.logits, grads: g.grads, params: net.parameters(), transfers: net.transfers.map((r) => `${r.direction} ${r.layer} ${r.bytes}`) };
  } finally {
    net.dispose();
  }
};

const sameBits = (what: string, a: Tensor, b: Tensor): void => {
  assert.equal(b.shape, a.shape, `${what}: shape`);
  for (let i = 0; i < a.size; i++) {
    if (!Object.is(a.data[i], b.data[i])) throw new Error(`${what}: at ${i}, side by side ${b.data[i]}, one after the other ${a.data[i]}`);
  }
};

const identical = (seq: Outcome, par: Outcome): void => {
  assert.equal(par.losses, seq.losses, 'losses');
  sameBits('logits', seq.logits, par.logits);
  for (const [n, t] of seq.grads) sameBits(`gradient of ${n}`, t, par.grads.get(n)!);
  for (const [n, t] of seq.params) sameBits(`parameter ${n} after two steps`, t, par.params.get(n)!);
  assert.equal(par.transfers, seq.transfers, 'the transfer log');
};

const closeAll = (bs: readonly RemoteBackend[]) => { for (const b of bs) b.close(); };

const S = suite('towers side by side');

S('[cpu, cpu] in two worker threads gives the same bits as one after the other in this thread', () => {
  const towers = cpuTowers({ threads: 1 });
  try {
    assert.equal(towers.map((t) => t.threads), [1, 1]);
    const seq = train([createCpuBackend({ name: 'cpu tower 0', threads: 1 }), createCpuBackend({ name: 'cpu tower 1', threads: 1 })]);
    const par = train(towers);
    identical(seq, par);
    console.log(`  [towers] cpu in threads: ${par.transfers.length} transfers, losses ${par.losses.map((l) => l.toFixed(4)).join(', ')}, bit for bit`);
  } finally {
    closeAll(towers);
  }
});

S('the towers exchange straight between themselves: the caller waits once per forward pass, for the logits', () => {
  const towers = cpuTowers({ threads: 1 });
  const net = orThrow(Network.create(spec, params, towers));
  try {
    net.forward(x);
    const before = towers.map((t) => t.waits);
    net.transfers.length = 0;
    net.forward(x);
    assert.equal(towers.map((t, i) => t.waits - before[i]), [1, 0], 'reads of tower 0 and tower 1 in one forward pass');
    assert.equal([...new Set(net.transfers.map((r) => r.layer))], ['conv3', 'fc6', 'fc7', 'fc8']);
    assert.ok(net.transfers.every((r) => r.bytes > 0));
  } finally {
    net.dispose();
    closeAll(towers);
  }
});

const failing = (kernel: string, name: string, how: 'throw' | 'shape' = 'throw') => createTower(
  { module: fileURLToPath(new URL('./fixtures/failing-backend.ts', import.meta.url)), factory: 'createFailingBackend', options: { name, kernel, how } },
  { in: 'thread' },
);

S('a kernel that fails in a tower is reported by the next read, with the kernel and the tower', () => {
  const towers = [failing('none', 'good tower'), failing('lrn', 'failing tower')];
  const net = orThrow(Network.create(spec, params, towers));
  try {
    const e = (() => { try { net.forward(x); } catch (err) { return err as Error; } return null; })();
    assert.ok(e, 'the forward pass did not fail');
    assert.is(e!.message, `failing tower: lrn failed: ${FAILING_MESSAGE}`);
    // The failing tower's own next read says it too (once); then the tower goes on working.
    assert.throws(() => towers[1].sync(), (err: Error) => err.message === `failing tower: lrn failed: ${FAILING_MESSAGE}`);
    const h = towers[1].upload(Tensor.fill([1, 2, 1, 1], -1));
    assert.equal(towers[1].download(towers[1].relu(h)).toArray(), [0, 0]);
  } finally {
    closeAll(towers);
  }
});

S('a training step whose update fails says so at the end of the step', () => {
  const towers = [failing('none', 'tower 0'), failing('sgdUpdate', 'tower 1')];
  const net = orThrow(Network.create(spec, params, towers));
  try {
    assert.throws(() => net.trainStep(x, labels, sgd, { rng: new Rng(1) }), (e: Error) => e.message.includes('tower 1') && e.message.includes('sgdUpdate failed'));
  } finally {
    closeAll(towers);
  }
});

S('a tower whose kernel returns another shape than the contract\'s says so at the next read', () => {
  const t = failing('relu', 'odd tower', 'shape');
  try {
    const y = t.relu(t.upload(Tensor.fill([2, 3], -1)));
    assert.equal(y.shape, [2, 3], 'the caller\'s handle has the contract\'s shape');
    assert.throws(() => t.sync(), (e: Error) => e.message === 'odd tower: relu failed: internal: it returned a result of shape [6] where the caller\'s handle has [2, 3]');
  } finally {
    t.close();
  }
});

S('a backend that cannot start, and handles used wrongly, are errors that say so', () => {
  assert.throws(
    () => createTower({ module: '/nonexistent/backend.ts', factory: 'make' }, { in: 'thread', name: 'lost tower' }),
    (e: Error) => e.message.startsWith('lost tower: the backend could not start in a worker thread') && e.message.includes('/nonexistent/backend.ts'),
  );
  assert.throws(() => createTower(cpuRecipe(), { in: 'thread' }) && createTower({ ...cpuRecipe(), factory: 'noSuchFactory' }, { in: 'thread' }), /does not export a function noSuchFactory/);
  const [a, b] = cpuTowers({ threads: 1 });
  try {
    const h = a.upload(Tensor.fill([2, 3], 1));
    assert.throws(() => b.relu(h), /a tensor of cpu tower 0 was handed to cpu tower 1; move it with transfer\(\) first/);
    a.dispose(h);
    assert.throws(() => a.relu(h), /used after it was disposed/);
  } finally {
    closeAll([a, b]);
  }
});

const late = (name: string, seed: number, reject?: string) => createTower(
  { module: fileURLToPath(new URL('./fixtures/late-backend.ts', import.meta.url)), factory: 'createLateBackend', options: { name, seed, reject } },
  { in: 'thread' },
);

S('asynchronous backends in towers: answers that settle out of order still run in the caller\'s order, bit for bit with the reference one after the other', () => {
  const seq = train([createReferenceBackend('late tower 0'), createReferenceBackend('late tower 1')]);
  const towers = [late('late tower 0', 1), late('late tower 1', 2)];
  try {
    const par = train(towers);
    identical(seq, par);
    assert.equal(towers.map((t) => t.liveCount()), [0, 0]);
    console.log(`  [towers] asynchronous reference in threads: ${par.transfers.length} transfers, losses ${par.losses.map((l) => l.toFixed(4)).join(', ')}, bit for bit`);
  } finally {
    closeAll(towers);
  }
});

S('an asynchronous kernel whose promise rejects is reported by the next read, with the kernel and the tower; the tower goes on', () => {
  const t = late('late tower', 3, 'lrn');
  try {
    const h = t.upload(Tensor.fill([1, 4, 2, 2], 1));
    const y = t.relu(t.lrn(h, { k: 2, n: 5, alpha: 1e-4, beta: 0.75 }));
    assert.throws(() => t.download(y), (e: Error) => e.message === `late tower: lrn failed: ${LATE_FAILURE}`);
    assert.equal(t.download(t.relu(t.upload(Tensor.fill([2], -1)))).toArray(), [0, 0]);
  } finally {
    t.close();
  }
});

const gl = planFor('headlessgl');
const glTest = gl.run ? S : S.skip;
if (!gl.run) console.log(`  skipped: the gpu.js towers in processes: ${gl.skipReason}`);

glTest('[gpu.js, gpu.js] in two processes gives the same bits as two contexts in this process [headlessgl]', () => {
  const local = [gpuBackend('headlessgl', 'gpu.js tower 0'), gpuBackend('headlessgl', 'gpu.js tower 1')];
  let seq: Outcome;
  try {
    seq = train(local);
  } finally {
    for (const b of local) b.destroy();
  }
  const towers = gpuTowers({ mode: 'headlessgl' }, ['gpu.js tower 0', 'gpu.js tower 1']);
  try {
    assert.equal(towers.map((t) => t.mode), ['headlessgl', 'headlessgl'], 'the towers\' gpu.js modes');
    assert.ok(towers[0].facts.pid !== process.pid && towers[0].facts.pid !== towers[1].facts.pid, 'each tower in a process of its own');
    const par = train(towers);
    identical(seq, par);
    report('headlessgl', `towers in processes ${towers.map((t) => t.facts.pid).join(' and ')} (llvmpipe threads ${towers[0].facts.lpThreads ?? 'default'}): bit for bit`);
  } finally {
    closeAll(towers);
  }
});

glTest('a tower process that ends is reported by the next read, and every read after it [headlessgl]', () => {
  const [t] = [createTower(gpuRecipe({ mode: 'headlessgl', name: 'doomed tower' }), { in: 'process' })];
  try {
    const h = t.upload(Tensor.fill([2, 2], 1));
    assert.equal(t.download(h).toArray(), [1, 1, 1, 1]);
    process.kill(t.facts.pid as number, 'SIGKILL');
    for (let i = 0; i < 2; i++) assert.throws(() => t.download(t.relu(h)), /doomed tower: its process ended \(signal SIGKILL\)/);
  } finally {
    t.close();
  }
});

S.run();
