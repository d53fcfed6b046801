/**
 * Checkpoints: safetensors round trips bit for bit, damaged files and other
 * models' checkpoints are refused with a clear message, writes are atomic, and
 * a loss forced to NaN stops training with the last good checkpoint intact.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCheckpoint, decodeSafetensors, encodeCheckpoint, encodeSafetensors, loadCheckpoint, saveCheckpoint, type TrainingCheckpoint, writeAtomic } from '../core/checkpoint.ts';
import { orThrow } from '../core/errors.ts';
import { initParams } from '../core/params.ts';
import { Tensor } from '../core/tensor.ts';
import { initialState, train, type TrainState } from '../core/train/loop.ts';
import { tinyConfig, tinyData, tinySetup, tinySpec } from './train-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
const leftMessage = (e: E.Either<{ message: string }, unknown>): string => (E.isLeft(e) ? e.left.message : 'accepted');
const bits = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

const sample = (): TrainingCheckpoint => {
  const { spec, prep, net } = tinySetup(3, tinyData(100, 10));
  const c = tinyConfig();
  return {
    spec, params: net.parameters(), velocity: initParams(spec, 99), prep, classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'],
    data: { kind: 'synthetic', seed: 7, train: 100, test: 10, size: 20, channels: 3, classes: 10 }, split: { val: 40 },
    config: c, state: { ...initialState(c), epoch: 2, step: 5, totalSteps: 21 }, backend: 'reference',
  };
};

test('safetensors: any float32 and float64 tensors and metadata round-trip bit for bit', () => {
  const tensorArb = fc.tuple(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.integer()).map(([shape, f64, seed]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = f64 ? new Float64Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(seed + i) * 10 ** ((i % 7) - 3);
    return Tensor.trusted(shape, data);
  });
  fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== '__metadata__'), tensorArb, { maxKeys: 5 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (ts, meta) => {
    const tensors = new Map(Object.entries(ts));
    const bytes = encodeSafetensors(tensors, meta);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.is((8 + n) % 8, 0, 'data starts 8-byte aligned');
    const back = orThrow(decodeSafetensors(bytes, 'x'));
    assert.equal([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [k, t] of tensors) {
      const u = back.tensors.get(k)!;
      assert.equal(u.shape, t.shape);
      assert.is(u.dtype, t.dtype);
      assert.ok(bits(u).equals(bits(t)), k);
    }
    for (const [k, v] of Object.entries(meta)) if (k !== 'sha256') assert.is(back.metadata[k], v);
  }));
});

test('safetensors: tensor names that are Object.prototype keys round-trip ("__proto__", "constructor")', () => {
  const tensors = new Map([['__proto__', Tensor.trusted([2], Float32Array.from([1, 2]))], ['constructor', Tensor.trusted([1], Float32Array.from([3]))]]);
  const back = orThrow(decodeSafetensors(encodeSafetensors(tensors, {}), 'x'));
  assert.equal([...back.tensors.keys()].sort(), ['__proto__', 'constructor']);
  assert.equal([...back.tensors.get('__proto__')!.data], [1, 2]);
  assert.equal([...back.tensors.get('constructor')!.data], [3]);
});

test('a training checkpoint round-trips bit for bit: weights, momentum, mean image, recipe and state', () => {
  const c = sample();
  const path = join(dir, 'round.safetensors');
  saveCheckpoint(path, c);
  const back = orThrow(loadCheckpoint(path, 'alexnet-mini'));
  for (const [n, t] of c.params) assert.ok(bits(back.params.get(n)!).equals(bits(t)), n);
  for (const [n, t] of c.velocity) assert.ok(bits(back.velocity.get(n)!).equals(bits(t)), `velocity ${n}`);
  assert.ok(Buffer.from(back.prep.mean.buffer, back.prep.mean.byteOffset, back.prep.mean.byteLength).equals(Buffer.from(c.prep.mean.buffer)));
  assert.equal(back.spec, c.spec);
  assert.equal(back.state, c.state);
  assert.equal(back.config, c.config);
  assert.equal(back.prep.pca, c.prep.pca);
  assert.equal(back.classNames, c.classNames);
  // the file is standard safetensors: the header names every tensor with dtype, shape and offsets
  const buf = readFileSync(path);
  const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString());
  assert.equal(header['conv1.weight'].shape, [8, 3, 5, 5]);
  assert.is(header['conv1.weight'].dtype, 'F32');
  assert.ok('velocity.fc8.bias' in header && 'preprocessing.mean' in header);
  assert.is(header.__metadata__.model, 'alexnet-mini');
  assert.is(header.__metadata__.epoch, '2');
});

test('a damaged file is refused with a message saying what is wrong', () => {
  const bytes = encodeCheckpoint(sample());
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const flipped = bytes.slice();
  flipped[8 + n + 1000] ^= 0x40;
  assert.match(leftMessage(decodeCheckpoint(flipped, 'c.st')), /^c\.st is not a valid checkpoint: its contents do not match the SHA-256/);
  assert.match(leftMessage(decodeCheckpoint(bytes.subarray(0, bytes.length - 100), 'c.st')), /truncated/);
  assert.match(leftMessage(decodeCheckpoint(bytes.subarray(0, 50), 'c.st')), /the header claims \d+ bytes but the file has 42/);
  assert.match(leftMessage(decodeCheckpoint(new Uint8Array(5), 'c.st')), /only 5 bytes/);
  const badJson = bytes.slice();
  badJson[9] = 0x7d; // '}' inside the JSON
  assert.match(leftMessage(decodeCheckpoint(badJson, 'c.st')), /header is not JSON/);
  assert.match(leftMessage(decodeCheckpoint(encodeSafetensors(new Map([['w', Tensor.zeros([2])]]), {}), 'plain.st')), /not an alexnet-ts checkpoint/);
  // any single corrupted byte, header or data, is refused, never half-read
  const spaces = new Set<number>();
  for (let i = 8; i < 8 + n; i++) if (bytes[i] === 0x20) spaces.add(i); // JSON whitespace padding may change harmlessly
  fc.assert(fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
    fc.pre(!spaces.has(at));
    const b = bytes.slice();
    b[at] ^= x;
    assert.ok(E.isLeft(decodeCheckpoint(b, 'c.st')), `byte ${at} ^ ${x} was accepted`);
  }), { numRuns: 300 });
});

test('a checkpoint of another model, or of other shapes, is refused', () => {
  const path = join(dir, 'mini.safetensors');
  saveCheckpoint(path, sample());
  assert.match(leftMessage(loadCheckpoint(path, 'alexnet')), /is a checkpoint of alexnet-mini, not alexnet; pass --model alexnet-mini/);
  const c = sample();
  const other = { ...c, spec: tinySpec(5) }; // recorded spec with 5 classes, weights for 10
  assert.match(leftMessage(decodeCheckpoint(encodeCheckpoint(other), 'x.st')), /its weights do not fit alexnet-mini: parameter 'fc8.weight' has shape \[10, 32\] but alexnet-mini needs \[5, 32\]/);
  assert.match(leftMessage(loadCheckpoint(join(dir, 'missing.safetensors'))), /no checkpoint at .*missing\.safetensors/);
});

test('writes are atomic: the new file replaces the old whole, and no temporary file is left', () => {
  const path = join(dir, 'atomic.bin');
  writeAtomic(path, Uint8Array.of(1, 2, 3));
  writeAtomic(path, Uint8Array.of(4, 5));
  assert.equal([...readFileSync(path)], [4, 5]);
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('atomic')), ['atomic.bin']);
});

test('a loss driven to NaN stops training, and the last good checkpoint stays as it was', () => {
  const { spec, train: tr, val, prep, net } = tinySetup(3, tinyData(200, 10));
  const path = join(dir, 'nan.safetensors');
  let saves = 0;
  const save = (config: ReturnType<typeof tinyConfig>) => (s: TrainState) => {
    saveCheckpoint(path, { spec, params: net.parameters(), velocity: net.velocities(), prep, classNames: tr.classNames, data: { kind: 'synthetic', seed: 7, train: 200, test: 10, size: 20, channels: 3, classes: 10 }, split: { val: 40 }, config, state: s, backend: 'reference' });
    saves++;
  };
  // six good steps, saved after steps 3 and 6 ...
  const good = tinyConfig({ epochs: 3, validateEvery: 3 });
  let n = 0;
  const first = train(net, { train: tr, val }, prep, good, initialState(good), { save: save(good), shouldStop: () => ++n >= 6 });
  assert.is(first.kind, 'stopped');
  assert.is(saves, 2);
  const kept = readFileSync(path);
  // ... then a learning rate of 1e30 blows the weights up until the loss is not a number
  const wild = { ...good, sgd: { ...good.sgd, lr: 1e30 } };
  const state = { ...first.state, schedule: { ...first.state.schedule, lr: 1e30 } };
  const out = train(net, { train: tr, val }, prep, wild, state, { save: save(wild) });
  assert.is(out.kind, 'diverged');
  if (out.kind !== 'diverged') return;
  assert.not.ok(Number.isFinite(out.loss));
  assert.ok(out.state.totalSteps < 9, `diverged after ${out.state.totalSteps} steps, before the next validation`);
  assert.is(saves, 2, 'nothing is saved after the blow-up');
  assert.ok(kept.equals(readFileSync(path)));
  const back = orThrow(loadCheckpoint(path));
  assert.is(back.state.totalSteps, 6);
  for (const t of back.params.values()) assert.ok(t.data.every(Number.isFinite));
});

test.run();
