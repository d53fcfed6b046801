/**
 * Fuzzed checkpoints: safetensors files and training checkpoints, made valid
 * here and then damaged (bytes: truncation, flips, inserted runs, trailing
 * garbage, the header length set to huge values; header: wrong dtypes, shapes
 * whose product overflows, offsets reversed, overlapping or past the data,
 * duplicated keys, numbers that parse to Infinity; metadata: a hostile
 * recipe with a correct SHA-256). Every answer is either a checkpoint that
 * holds together or one line naming the file and the problem, in bounded
 * time and memory. ALEXNET_FUZZ_SCALE=10 runs ten times the cases.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describe } from '../core/alexnet.ts';
import { decodeCheckpoint, decodeSafetensors, encodeCheckpoint, encodeSafetensors, type Safetensors, type TrainingCheckpoint } from '../core/checkpoint.ts';
import { initParams } from '../core/params.ts';
import { checkParams } from '../core/params.ts';
import { sha256Hex } from '../core/sha256.ts';
import { sizeOf, Tensor } from '../core/tensor.ts';
import { initialState } from '../core/train/loop.ts';
import { concat, guarded, judge, mutateAll, mutationsArb, runs } from './mutate.ts';
import { tinyConfig, tinyData, tinySetup } from './train-support.ts';

const WHAT = 'fuzzed.safetensors';
const seen = { left: 0, right: 0 };

// ---- safetensors -------------------------------------------------------------------

/** A safetensors file from a header given as an object or as text, with no padding and the data as given. */
const raw = (header: unknown, data: Uint8Array): Uint8Array => {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
};

const split = (file: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } => {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))), data: file.slice(8 + n) };
};

const tensorArb = fc.tuple(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }), fc.boolean(), fc.integer()).map(([shape, f64, seed]) => {
  const n = sizeOf(shape);
  const data = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(seed + i) * 10 ** ((i % 7) - 3);
  return Tensor.trusted(shape, data);
});

/** A valid file: a few tensors and metadata, with or without the SHA-256 our writer adds. */
const validFileArb = fc.tuple(
  fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__metadata__'), tensorArb, { minKeys: 1, maxKeys: 4 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
  fc.boolean(),
).map(([ts, meta, digest]) => {
  const file = encodeSafetensors(new Map(Object.entries(ts)), meta);
  if (digest) return file;
  const { header, data } = split(file);
  delete (header.__metadata__ as Record<string, string>).sha256;
  return raw(header, data);
});

/** What a decoded file must satisfy: float tensors whose data fits their shape and that tile the data section, string metadata. */
const wellFormed = (file: Uint8Array) => (s: Safetensors): void => {
  let bytes = 0;
  for (const [name, t] of s.tensors) {
    assert.ok(t.dtype === 'float32' || t.dtype === 'float64', name);
    assert.ok(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `${name}: shape ${t.shape}`);
    assert.is(t.data.length, sizeOf(t.shape), name);
    bytes += t.data.byteLength;
  }
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  assert.is(bytes, file.length - 8 - n, 'the tensors tile the data section');
  for (const v of Object.values(s.metadata)) assert.type(v, 'string');
};

const decodeOne = (file: Uint8Array, context: string): 'left' | 'right' => {
  const r = judge(guarded(context, file.length, () => decodeSafetensors(file, WHAT)), WHAT, context, wellFormed(file));
  seen[r]++;
  return r;
};

test('safetensors: any damage to the bytes of a valid file gives a consistent file or one line naming it', () => {
  fc.assert(fc.property(validFileArb, mutationsArb([0, 4]), (file, ms) => {
    const bad = mutateAll(file, ms);
    decodeOne(bad, `mutations ${JSON.stringify(ms, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `${v.length} bytes` : v))}`);
  }), { numRuns: runs(5000) });
});

// Damage to the header's meaning, the file otherwise intact (and its digest recomputed where it had one, so the checks past it are reached).
type Edit = (h: Record<string, unknown>, names: string[]) => void;
const pick = (names: string[], k: number) => names[k % names.length];
/** A tensor's entry, or a scratch object where an earlier edit removed or replaced it. */
/** An own key's value: a tensor named 'valueOf' that an edit removed must not read as Object.prototype's. */
const own = (h: Record<string, unknown>, name: string): unknown => (Object.hasOwn(h, name) ? h[name] : undefined);
const info = (h: Record<string, unknown>, name: string): Record<string, unknown> => {
  const i = own(h, name);
  return typeof i === 'object' && i !== null ? (i as Record<string, unknown>) : { data_offsets: [0, 0] };
};
const BAD_DTYPES = ['F16', 'BF16', 'I32', 'U8', 'I64', 'F32', 'F64', 'f32', '', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 7, null, ['F32'], {}];
const BAD_SHAPES: unknown[] = [[2 ** 53], [2 ** 53 + 2], [2 ** 31, 2 ** 31, 2 ** 31], [2 ** 32, 2 ** 32], [2 ** 64], [1e308, 1e308], [-1], [1.5], ['2'], [null], null, 'x', 5, [], [0], [0, 2 ** 60], [2 ** 26, 2 ** 26, 2 ** 26, 2 ** 26]];
const NAMES = ['a\nb', 'line\r\nbreak', 'sep\u2028arator', 'x'.repeat(5000), '__proto__', 'constructor', 'toString', '', '\u0000', '"quoted"'];
/** An edit that prints as its label in a counterexample. */
const labelled = <F>(label: string, edit: F) => ({ label, edit, [fc.toStringMethod]: () => label });
const editArb: fc.Arbitrary<{ label: string; edit: Edit }> = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom(...BAD_DTYPES)).map(([k, v]) => labelled<Edit>(`dtype ${JSON.stringify(v)}`, (h, ns) => { info(h, pick(ns, k)).dtype = v; })),
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...BAD_SHAPES), fc.array(fc.oneof(fc.integer({ min: -2, max: 9 }), fc.constantFrom(2 ** 53, 2 ** 64, 1e308, 0.5, 2 ** 31)), { maxLength: 5 })))
    .map(([k, v]) => labelled<Edit>(`shape ${JSON.stringify(v)}`, (h, ns) => { info(h, pick(ns, k)).shape = v; })),
  fc.tuple(fc.nat(), fc.constantFrom('reverse', 'grow', 'shift', 'zero', 'far', 'negative', 'three', 'one', 'half', 'strings', 'null', 'overlap'), fc.integer({ min: -3, max: 3 })).map(([k, how, d]) => labelled<Edit>(`offsets ${how} ${d}`, (h, ns) => {
      const i = info(h, pick(ns, k));
      const [b, e] = Array.isArray(i.data_offsets) ? (i.data_offsets as number[]) : [0, 0];
      const o: Record<string, unknown> = {
        reverse: [e, b], grow: [b, e + 4 * d], shift: [b + d, e + d], zero: [0, e - b], far: [2 ** 53 + b, 2 ** 53 + e], negative: [-(e - b), 0],
        three: [b, e, e], one: [b], half: [b + 0.5, e + 0.5], strings: [String(b), String(e)], null: null, overlap: [Math.max(0, b - 4), Math.max(0, e - 4)],
      };
      i.data_offsets = o[how];
  })),
  fc.tuple(fc.nat(), fc.constantFrom(null, 5, 'x', [], {}, true)).map(([k, v]) => labelled<Edit>(`info ${JSON.stringify(v)}`, (h, ns) => { h[pick(ns, k)] = v; })),
  fc.constantFrom(null, [], 'x', 5, { a: 1 }, { a: {} }, { sha256: 5 }, { a: null }).map((v) => labelled<Edit>(`__metadata__ ${JSON.stringify(v)}`, (h) => { h.__metadata__ = v; })),
  fc.tuple(fc.nat(), fc.constantFrom(...NAMES)).map(([k, name]) => labelled<Edit>(`renamed to ${JSON.stringify(name.slice(0, 20))}`, (h, ns) => { const from = pick(ns, k); const v = own(h, from); delete h[from]; h[name] = v; })),
  fc.tuple(fc.nat(), fc.constantFrom(...NAMES)).map(([k, name]) => labelled<Edit>(`copy as ${JSON.stringify(name.slice(0, 20))}`, (h, ns) => { h[name] = structuredClone(own(h, pick(ns, k))); })),
  fc.nat().map((k) => labelled<Edit>('removed', (h, ns) => { delete h[pick(ns, k)]; })),
);
// Damage to the header's text after it is written: numbers JSON reads as Infinity or rounds, duplicated keys, other top-level values.
const textEditArb = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom('1e400', '-1e400', '-0', 'NaN', 'Infinity', '9007199254740993', '1e-400', '0x10', '1.0', '4e0', '18446744073709551616'))
    .map(([k, v]) => labelled(`number ${k} -> ${v}`, (t: string) => { let i = 0; return t.replace(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g, (m) => (i++ === k % 50 ? v : m)); })),
  fc.nat().map((k) => labelled(`duplicated key ${k}`, (t: string) => {
    const h = JSON.parse(t) as Record<string, unknown>;
    const names = Object.keys(h);
    const name = names[k % names.length];
    return `{${JSON.stringify(name)}:${JSON.stringify(name === '__metadata__' ? {} : { dtype: 'F32', shape: [1], data_offsets: [0, 4] })},${t.slice(1)}`;
  })),
  fc.constantFrom('[]', 'null', '1', '"x"', '{}', '{"a":NaN}', '{"a":Infinity}', '{"a":1e400}', '{"__proto__":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', '\uFEFF{}', '{}\u0000', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}garbage')
    .map((v) => labelled(`header ${JSON.stringify(v)}`, (_: string) => v)),
);

test('safetensors: hostile headers (dtypes, shapes, offsets, names, metadata, numbers) give a consistent file or one line', () => {
  fc.assert(fc.property(validFileArb, fc.array(editArb, { minLength: 1, maxLength: 2 }), fc.option(textEditArb, { nil: undefined }), fc.boolean(), (file, edits, textEdit, redigest) => {
    const { header, data } = split(file);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    for (const e of edits) e.edit(header, names);
    const meta = header.__metadata__ as Record<string, string> | undefined;
    if (redigest && meta && typeof meta === 'object' && typeof meta.sha256 === 'string') {
      const { sha256: _, ...rest } = meta;
      meta.sha256 = sha256Hex([JSON.stringify({ ...header, __metadata__: rest }), data]);
    }
    let text = JSON.stringify(header);
    if (textEdit) text = textEdit.edit(text);
    decodeOne(raw(text, data), `${edits.map((e) => e.label).join(', ')}${textEdit ? `, ${textEdit.label}` : ''}`);
  }), { numRuns: runs(5000) });
});

test('safetensors: regressions the fuzzing found', () => {
  const data = new Uint8Array(4);
  const cases: [string, Uint8Array, RegExp][] = [
    ['a tensor whose entry is null', raw({ a: null }, data), /tensor 'a' is not an object with dtype, shape and data_offsets/],
    ['a dtype named after Object.prototype', raw({ a: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, data), /tensor 'a' has dtype "toString"; F32 and F64 are supported/],
    ['a name with a line break', raw({ 'a\nb': { dtype: 'F16', shape: [1], data_offsets: [0, 4] } }, data), /tensor 'a\\nb' has dtype "F16"/],
    ['JSON whose error quotes the text', raw('{"a\n\n":', data), /the header is not JSON/],
    ['a shape whose product passes 2^53', raw({ a: { dtype: 'F32', shape: [2 ** 31, 2 ** 31, 2 ** 31], data_offsets: [0, 4] } }, data), /tensor 'a' has shape \[2147483648, 2147483648, 2147483648\], more elements than any file holds/],
    ['a header length of 2^62', concat(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x40), new TextEncoder().encode('{}')), /the header claims \d+ bytes/],
  ];
  for (const [label, file, says] of cases) {
    const r = guarded(label, file.length, () => decodeSafetensors(file, WHAT));
    assert.ok(E.isLeft(r), `${label}: accepted`);
    if (E.isLeft(r)) {
      judge(r, WHAT, label, () => {});
      assert.match(r.left.message, says, label);
    }
  }
});

// ---- training checkpoints ----------------------------------------------------------

const sample = (): TrainingCheckpoint => {
  const { spec, prep, net } = tinySetup(3, tinyData(60, 10));
  const c = tinyConfig();
  return {
    spec, params: net.parameters(), velocity: initParams(spec, 99), prep, classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'],
    data: { kind: 'synthetic', seed: 7, train: 60, test: 10, size: 20, channels: 3, classes: 10 }, split: { val: 40 },
    config: c, state: { ...initialState(c), epoch: 2, step: 5, totalSteps: 21 }, backend: 'reference',
  };
};
const CK = sample();
const CK_BYTES = encodeCheckpoint(CK);

const isNat = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
const isFinite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);

/** What eval, classify, filters and train --resume rely on in a checkpoint they were given. */
const holdsTogether = (ck: TrainingCheckpoint): void => {
  assert.ok(E.isRight(describe(ck.spec)), 'a valid spec');
  assert.ok(E.isRight(checkParams(ck.spec, ck.params)) && E.isRight(checkParams(ck.spec, ck.velocity)), 'weights and momentum fit the spec');
  for (const t of [...ck.params.values(), ...ck.velocity.values()]) assert.ok(t.data.every(Number.isFinite), 'finite weights');
  assert.ok(ck.prep.mean.every(Number.isFinite), 'a finite mean image');
  const { prep, spec } = ck;
  assert.ok(prep.channels === 1 || prep.channels === 3, `channels ${prep.channels}`);
  assert.is(prep.channels, spec.input[0]);
  assert.ok(prep.crop === spec.input[1] && prep.crop === spec.input[2], 'the crop is the input side');
  assert.ok(isNat(prep.size) && prep.size >= prep.crop, `stored side ${prep.size}`);
  assert.is(prep.mean.length, prep.channels * prep.size * prep.size);
  assert.ok(prep.pca === null || (prep.pca.values.length === 3 && prep.pca.values.every(isFinite) && prep.pca.vectors.length === 3 && prep.pca.vectors.every((v) => v.length === 3 && v.every(isFinite))), 'pca');
  assert.ok(Array.isArray(ck.classNames) && ck.classNames.length === spec.classes && ck.classNames.every((n) => typeof n === 'string'), 'one name per class');
  const d = ck.data;
  assert.ok(
    (d.kind === 'idx' && typeof d.path === 'string' && isNat(d.pad) && prep.size - 2 * d.pad >= 1)
      || (d.kind === 'folder' && typeof d.path === 'string' && isNat(d.base) && d.base >= 1 && (d.channels === 1 || d.channels === 3))
      || (d.kind === 'synthetic' && [d.seed, d.train, d.test, d.size, d.classes].every(isNat) && (d.channels === 1 || d.channels === 3)),
    `data ${JSON.stringify(d)}`,
  );
  assert.ok(isNat(ck.split.val) && (ck.split.trainLimit === undefined || isNat(ck.split.trainLimit)), 'split');
  const c = ck.config;
  assert.ok([c.batch, c.evalBatch].every((x) => isNat(x) && x >= 1) && [c.epochs, c.validateEvery].every(isNat) && isFinite(c.seed) && typeof c.colour === 'boolean', 'config numbers');
  assert.ok([c.sgd.lr, c.sgd.momentum, c.sgd.weightDecay].every(isFinite) && [c.plateau.patience, c.plateau.factor, c.plateau.maxDrops].every(isFinite), 'config rates');
  assert.ok(c.dropAt === undefined || (Array.isArray(c.dropAt) && c.dropAt.every(isNat)), 'dropAt');
  const s = ck.state;
  assert.ok([s.epoch, s.step, s.totalSteps].every(isNat) && isFinite(s.schedule.lr) && Array.isArray(s.history) && [s.period.loss, s.period.misses, s.period.images, s.period.steps].every(isFinite), 'state');
};

const decodeCk = (file: Uint8Array, context: string) => {
  const r = judge(guarded(context, file.length, () => decodeCheckpoint(file, WHAT)), WHAT, context, holdsTogether);
  seen[r]++;
  return r;
};

test('checkpoint: the valid sample holds together', () => {
  assert.is(decodeCk(CK_BYTES, 'valid'), 'right');
});

test('checkpoint: damage to the bytes, the header most of all, gives one line naming the file', () => {
  const n = Number(new DataView(CK_BYTES.buffer).getBigUint64(0, true));
  const head = CK_BYTES.subarray(0, 8 + n);
  const body = CK_BYTES.subarray(8 + n);
  fc.assert(fc.property(fc.boolean(), mutationsArb([0, 4]), (inHeader, ms) => {
    const bad = inHeader ? concat(mutateAll(head, ms), body) : mutateAll(CK_BYTES, ms);
    decodeCk(bad, `${inHeader ? 'header ' : ''}mutations ${JSON.stringify(ms, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `${v.length} bytes` : v))}`);
  }), { numRuns: runs(1000) });
});

// A hostile recipe: the metadata changed and the file re-signed, so only the checkpoint's own checks stand between it and the CLI.
const WEIRD: unknown[] = [null, -1, 0, 1, 1.5, 2 ** 31, 2 ** 53, 1e308, 'x', '', [], {}, true, [1, 2, 3], { kind: 'x' }];
const metaEditArb = fc.oneof(
  fc.tuple(fc.constantFrom('spec', 'classes', 'data', 'split', 'preprocessing', 'config', 'state'), fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.constantFrom(...WEIRD, undefined))
    .map(([key, path, v]) => labelled(`${key} at ${path.join('.')} := ${JSON.stringify(v)}`, (m: Record<string, string>) => {
        let o: unknown;
        try { o = JSON.parse(m[key] ?? 'null'); } catch { return; }
        if (o === null || typeof o !== 'object') { m[key] = JSON.stringify(v ?? null); return; }
        // walk down the path of child indices, then replace (or delete) the child reached
        let parent = o as Record<string, unknown>;
        for (let i = 0; ; i++) {
          const keys = Object.keys(parent);
          if (keys.length === 0) break;
          const k = keys[path[i] % keys.length];
          const child = parent[k];
          if (i === path.length - 1 || child === null || typeof child !== 'object') {
            if (v === undefined) delete parent[k]; else parent[k] = v;
            break;
          }
          parent = child as Record<string, unknown>;
        }
        m[key] = JSON.stringify(o);
    })),
  fc.tuple(fc.constantFrom('spec', 'classes', 'data', 'split', 'preprocessing', 'config', 'state', 'format', 'model'), fc.constantFrom('null', '1', '"x"', '[]', '{}', '{', 'undefined', 'NaN', '1e400'))
    .map(([key, v]) => labelled(`${key} := ${v}`, (m: Record<string, string>) => { m[key] = v; })),
  fc.constantFrom('spec', 'classes', 'data', 'split', 'preprocessing', 'config', 'state', 'format').map((key) => labelled(`no ${key}`, (m: Record<string, string>) => { delete m[key]; })),
);
const tensorEditArb = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom<'drop' | 'f64' | 'grow' | 'flat'>('drop', 'f64', 'grow', 'flat')).map(([k, how]) => labelled(`tensor ${k} ${how}`, (ts: Map<string, Tensor>) => {
      const names = [...ts.keys()];
      const name = names[k % names.length];
      const t = ts.get(name)!;
      if (how === 'drop') ts.delete(name);
      else if (how === 'f64') ts.set(name, Tensor.trusted(t.shape, Float64Array.from(t.data)));
      else if (how === 'grow') ts.set(name, Tensor.zeros([t.size + 1]));
      else ts.set(name, Tensor.trusted([t.size], t.data));
  })),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE).map((x) => labelled(`a weight := ${x}`, (ts: Map<string, Tensor>) => { const t = ts.get('conv1.weight')!; const d = Float32Array.from(t.data); d[0] = x; ts.set('conv1.weight', Tensor.trusted(t.shape, d)); })),
);

test('checkpoint: a hostile recipe with a correct digest gives a checkpoint that holds together or one line', () => {
  const { tensors, metadata } = E.getOrElseW(() => { throw new Error('sample'); })(decodeSafetensors(CK_BYTES, 'sample'));
  fc.assert(fc.property(fc.array(metaEditArb, { minLength: 1, maxLength: 3 }), fc.option(tensorEditArb, { nil: undefined }), (edits, tEdit) => {
    const m: Record<string, string> = { ...metadata };
    for (const e of edits) e.edit(m);
    const ts = new Map(tensors);
    tEdit?.edit(ts);
    decodeCk(encodeSafetensors(ts, m), [...edits.map((e) => e.label), ...(tEdit ? [tEdit.label] : [])].join(', '));
  }), { numRuns: runs(3000) });
});

test('checkpoint: regressions the fuzzing found', () => {
  const { tensors, metadata } = E.getOrElseW(() => { throw new Error('sample'); })(decodeSafetensors(CK_BYTES, 'sample'));
  const cases: [string, Record<string, string>, RegExp][] = [
    ['preprocessing null', { preprocessing: 'null' }, /preprocessing/],
    ['classes not a list', { classes: '5' }, /class/],
    ['stored side 2^31', { preprocessing: JSON.stringify({ ...JSON.parse(metadata.preprocessing), size: 2 ** 31 }) }, /mean image|preprocessing/],
    ['state null', { state: 'null' }, /state/],
    ['spec without layers', { spec: JSON.stringify({ ...JSON.parse(metadata.spec), layers: [] }) }, /spec/],
    ['classes null', { classes: 'null' }, /its recorded classes is malformed/],
  ];
  const nan = new Map(tensors);
  const w = tensors.get('fc8.bias')!;
  nan.set('fc8.bias', Tensor.trusted(w.shape, Float32Array.from(w.data, (x, i) => (i === 1 ? Number.NaN : x))));
  const withNan = guarded('a NaN weight', 0, () => decodeCheckpoint(encodeSafetensors(nan, metadata), WHAT));
  assert.match(E.isLeft(withNan) ? withNan.left.message : 'accepted', /tensor 'fc8.bias' holds NaN at index 1/);
  for (const [label, over, says] of cases) {
    const file = encodeSafetensors(tensors, { ...metadata, ...over });
    const r = guarded(label, file.length, () => decodeCheckpoint(file, WHAT));
    assert.ok(E.isLeft(r), `${label}: accepted`);
    if (E.isLeft(r)) {
      judge(r, WHAT, label, () => {});
      assert.match(r.left.message, says, label);
    }
  }
});

test('(cases decoded, accepted and refused)', () => {
  console.log(`  checkpoint fuzzing: ${seen.left + seen.right} files, ${seen.right} accepted and consistent, ${seen.left} refused in one line`);
});

test.run();
