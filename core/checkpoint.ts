/**
 * Checkpoints in the safetensors format (Hugging Face's; readable by its
 * libraries in any language):
 *
 *   8 bytes     N, the header's length, unsigned 64-bit little-endian
 *   N bytes     a JSON object, UTF-8, padded with spaces to a multiple of 8:
 *                 "<tensor name>": { "dtype": "F32" | "F64", "shape": [...],
 *                                    "data_offsets": [begin, end] }   (bytes, from the data start)
 *                 "__metadata__": { string: string }
 *   the rest    the tensors' bytes, little-endian, back to back, no gaps
 *
 * A training checkpoint holds the weights (`conv1.weight`, `conv1.bias`, ...,
 * `fc8.bias`), the SGD momentum buffers (`velocity.conv1.weight`, ...), and the
 * training set's mean image (`preprocessing.mean`). Its `__metadata__` holds
 * the model name and full spec, the class names, the data source, the
 * preprocessing (crop size, colour PCA), the training configuration (seed,
 * batch, rates) and state (epoch, step, learning rate, schedule, curve), the
 * LRN form, and a SHA-256 of the header and the tensor bytes, checked on
 * loading, so a damaged file is refused rather than half-read.
 *
 * Files are written atomically: to a temporary file beside the target, flushed
 * to disk, then renamed over it. A crash mid-write leaves the old file whole.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { describe, type NetSpec } from './alexnet.ts';
import type { Preprocessing } from './data/augment.ts';
import { type AlexnetError, checkpointError, excerpt } from './errors.ts';
import { checkParams, type Params } from './params.ts';
import { sha256Hex } from './sha256.ts';
import { sizeOf, Tensor } from './tensor.ts';
import type { TrainConfig, TrainState } from './train/loop.ts';

export const FORMAT = 'alexnet-ts checkpoint 1';

const DTYPES = { F32: { bytes: 4, dtype: 'float32' }, F64: { bytes: 8, dtype: 'float64' } } as const;
type SafeDType = keyof typeof DTYPES;

export interface Safetensors {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Encodes tensors and string metadata as safetensors bytes. A `sha256` is added
 * to the metadata: the digest of the header (as JSON, without the digest) and
 * then the tensor bytes, so a change anywhere in the file is caught.
 */
export const encodeSafetensors = (tensors: ReadonlyMap<string, Tensor>, metadata: Readonly<Record<string, string>>): Uint8Array => {
  // No prototype: a tensor may be named "__proto__", which on a plain object
  // would set the prototype instead of adding a key (and vanish from the JSON).
  const header: Record<string, unknown> = Object.create(null);
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of tensors) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'F64', shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  const { sha256: _old, ...meta } = metadata;
  header.__metadata__ = meta;
  header.__metadata__ = { ...meta, sha256: sha256Hex([JSON.stringify(header), ...parts]) };
  let json = JSON.stringify(header);
  const headerBytes = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - ((8 + headerBytes) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.length;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};

/** Decodes safetensors bytes, checking the header, every tensor's extent and the data's SHA-256 when present. */
export const decodeSafetensors = (buf: Uint8Array, what: string): E.Either<AlexnetError, Safetensors> => {
  const bad = (msg: string) => E.left(checkpointError(`${what} is not a valid checkpoint: ${msg}`));
  if (buf.length < 8) return bad(`only ${buf.length} bytes`);
  const n = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true));
  if (n < 2 || 8 + n > buf.length) return bad(`the header claims ${n} bytes but the file has ${buf.length - 8} after the length field (truncated or not safetensors)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(buf.buffer, buf.byteOffset + 8, n)));
  } catch (e) {
    // The parser's message may quote the header, line breaks and all.
    return bad(`the header is not JSON (${excerpt((e as Error).message, 120)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return bad('the header is not a JSON object');
  const data = buf.subarray(8 + n);
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata) || Object.values(metadata).some((v) => typeof v !== 'string')) return bad('__metadata__ must map strings to strings');
  const entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const tensor = `tensor '${excerpt(name)}'`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) return bad(`${tensor} is not an object with dtype, shape and data_offsets`);
    const i = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    // own keys only: 'toString' is in every object
    if (typeof i.dtype !== 'string' || !Object.hasOwn(DTYPES, i.dtype)) return bad(`${tensor} has dtype ${excerpt(JSON.stringify(i.dtype) ?? String(i.dtype), 24)}; F32 and F64 are supported`);
    if (!Array.isArray(i.shape) || !i.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return bad(`${tensor} has a malformed shape`);
    if (!Array.isArray(i.data_offsets) || i.data_offsets.length !== 2 || !i.data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) return bad(`${tensor} has malformed data_offsets`);
    const [begin, end] = i.data_offsets as number[];
    const dtype = i.dtype as SafeDType;
    const shape = i.shape as number[];
    // A product past 2^53 is not exact; no such tensor fits a file anyway.
    const need = sizeOf(shape) * DTYPES[dtype].bytes;
    if (!Number.isSafeInteger(need)) return bad(`${tensor} has shape [${excerpt(shape.join(', '), 60)}], more elements than any file holds`);
    if (end < begin) return bad(`${tensor} ends at byte ${end}, before it begins at ${begin}`);
    if (end - begin !== need) return bad(`${tensor} spans ${end - begin} bytes but its shape [${excerpt(shape.join(', '), 60)}] of ${dtype} needs ${need}`);
    if (end > data.length) return bad(`${tensor} ends at byte ${end} of a ${data.length}-byte data section (truncated)`);
    entries.push({ name, dtype, shape, begin, end });
  }
  // The tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) return bad(`tensor '${excerpt(e.name)}' starts at byte ${e.begin}, expected ${at} (gap or overlap)`);
    at = e.end;
  }
  if (at !== data.length) return bad(`${data.length - at} bytes after the last tensor`);
  if (metadata.sha256 !== undefined) {
    const { sha256, ...meta } = metadata;
    const digest = sha256Hex([JSON.stringify({ ...header, __metadata__: meta }), data]);
    if (digest !== sha256) return bad('its contents do not match the SHA-256 recorded in the header (the file is damaged)');
  }
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const bytes = new Uint8Array(data.subarray(e.begin, e.end)); // a copy: aligned, and owned by the tensor
    const arr = e.dtype === 'F32' ? new Float32Array(bytes.buffer, 0, (e.end - e.begin) / 4) : new Float64Array(bytes.buffer, 0, (e.end - e.begin) / 8);
    tensors.set(e.name, Tensor.trusted(e.shape, arr));
  }
  return E.right({ tensors, metadata });
};

/** Writes bytes to `path` atomically: a temporary file beside it, flushed, then renamed over it. */
export const writeAtomic = (path: string, bytes: Uint8Array): void => {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
};

/** How to find the data a checkpoint was trained on again. */
export type DataRef =
  | { readonly kind: 'idx'; readonly path: string; readonly pad: number }
  | { readonly kind: 'folder'; readonly path: string; readonly base: number; readonly channels: 1 | 3 }
  | { readonly kind: 'synthetic'; readonly seed: number; readonly train: number; readonly test: number; readonly size: number; readonly channels: 1 | 3; readonly classes: number };

/** Everything a training run needs to go on, or an evaluation to run. */
export interface TrainingCheckpoint {
  readonly spec: NetSpec;
  readonly params: Params;
  readonly velocity: Params;
  readonly prep: Preprocessing;
  readonly classNames: readonly string[];
  readonly data: DataRef;
  /** How the training images were split: the first `trainLimit` used (all if absent), `val` of them held out. */
  readonly split: { readonly val: number; readonly trainLimit?: number };
  readonly config: TrainConfig;
  readonly state: TrainState;
  /** The backend that trained it, for the record. */
  readonly backend: string;
}

const VELOCITY = 'velocity.';
const MEAN = 'preprocessing.mean';

export const encodeCheckpoint = (c: TrainingCheckpoint): Uint8Array => {
  const tensors = new Map<string, Tensor>();
  for (const [n, t] of c.params) tensors.set(n, t);
  for (const [n, t] of c.velocity) tensors.set(VELOCITY + n, t);
  tensors.set(MEAN, Tensor.trusted([c.prep.channels, c.prep.size, c.prep.size], c.prep.mean));
  const { mean: _mean, ...prep } = c.prep;
  return encodeSafetensors(tensors, {
    format: FORMAT,
    model: c.spec.name,
    spec: JSON.stringify(c.spec),
    classes: JSON.stringify(c.classNames),
    data: JSON.stringify(c.data),
    split: JSON.stringify(c.split),
    preprocessing: JSON.stringify(prep),
    config: JSON.stringify(c.config),
    state: JSON.stringify(c.state),
    backend: c.backend,
    lrn: `paper form b = a / (k + alpha * sum a^2)^beta, k=${c.spec.lrn.k} n=${c.spec.lrn.n} alpha=${c.spec.lrn.alpha} beta=${c.spec.lrn.beta}`,
    seed: String(c.config.seed),
    epoch: String(c.state.epoch),
    step: String(c.state.step),
    lr: String(c.state.schedule.lr),
  });
};

export const saveCheckpoint = (path: string, c: TrainingCheckpoint): void => writeAtomic(path, encodeCheckpoint(c));

const parseJson = <A>(meta: Readonly<Record<string, string>>, key: string, what: string): E.Either<AlexnetError, A> => {
  if (meta[key] === undefined) return E.left(checkpointError(`${what} has no '${key}' in its metadata; it was not written by alexnet-ts`));
  try {
    return E.right(JSON.parse(meta[key]) as A);
  } catch {
    return E.left(checkpointError(`${what}: metadata '${key}' is not valid JSON`));
  }
};

// ---- the recipe a checkpoint records, checked before anything acts on it ----------
// The digest proves a file whole, not well meant: a file written by hand (or by
// another program) may carry a digest of its own over any metadata, so every
// field eval, classify, filters and train --resume read is checked here.

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const nat = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
const pos = (x: unknown): boolean => nat(x) && (x as number) >= 1;
const num = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
const allOf = (o: Record<string, unknown>, keys: readonly string[], ok: (x: unknown) => boolean): boolean => keys.every((k) => ok(o[k]));

/** What is wrong with a recorded spec's structure, or undefined; whether its shapes chain is describe's question. */
const specProblem = (s: unknown): string | undefined => {
  if (!isObj(s)) return 'it is not an object';
  if (typeof s.name !== 'string') return 'it has no name';
  if (!Array.isArray(s.input) || s.input.length !== 3 || !s.input.every(pos)) return 'its input is not [channels, height, width]';
  if (!pos(s.classes)) return 'its number of classes is not a positive integer';
  if (!isObj(s.lrn) || !allOf(s.lrn, ['k', 'alpha', 'beta'], num) || !pos(s.lrn.n)) return 'its LRN constants are malformed';
  if (!isObj(s.pool) || !allOf(s.pool, ['size', 'stride'], pos)) return 'its pooling is malformed';
  if (!num(s.dropout) || (s.dropout as number) < 0 || (s.dropout as number) >= 1 || !num(s.initStd)) return 'its dropout or initialisation is malformed';
  if (!Array.isArray(s.layers) || s.layers.length === 0) return 'it has no layers';
  for (const l of s.layers as unknown[]) {
    if (!isObj(l) || (l.kind !== 'conv' && l.kind !== 'fc') || typeof l.name !== 'string' || !pos(l.out) || !num(l.biasInit)) return 'a layer is malformed';
    if (!['input', 'own', 'both'].includes(l.link as string)) return `layer ${excerpt(l.name)} has no valid link`;
    if (!Array.isArray(l.after) || !l.after.every((a) => ['relu', 'lrn', 'pool', 'dropout'].includes(a))) return `layer ${excerpt(l.name)} has a malformed list of what follows it`;
    if (l.kind === 'conv' && (!allOf(l, ['kernel', 'stride'], pos) || !nat(l.pad))) return `layer ${excerpt(l.name)} has a malformed kernel, stride or padding`;
  }
  return undefined;
};

const prepProblem = (p: unknown, spec: NetSpec): string | undefined => {
  if (!isObj(p)) return 'it is not an object';
  if (p.channels !== spec.input[0] || (p.channels !== 1 && p.channels !== 3)) return `it has ${excerpt(String(p.channels))} channels, the network ${spec.input[0]}`;
  if (p.crop !== spec.input[1] || p.crop !== spec.input[2]) return `its crop ${excerpt(String(p.crop))} is not the network's input side ${spec.input[1]}`;
  if (!pos(p.size) || (p.size as number) < (p.crop as number)) return `its stored side ${excerpt(String(p.size))} is smaller than its crop`;
  if (p.pca !== null) {
    const pca = p.pca;
    const three = (v: unknown) => Array.isArray(v) && v.length === 3 && v.every(num);
    if (!isObj(pca) || !three(pca.values) || !Array.isArray(pca.vectors) || pca.vectors.length !== 3 || !pca.vectors.every(three)) return 'its colour PCA is malformed';
  }
  return undefined;
};

const dataProblem = (d: unknown, prep: { size: number }): string | undefined => {
  if (!isObj(d)) return 'it is not an object';
  const channels = (c: unknown) => c === 1 || c === 3;
  if (d.kind === 'idx') return typeof d.path === 'string' && nat(d.pad) && prep.size - 2 * (d.pad as number) >= 1 ? undefined : 'an IDX folder without a path or with a padding that leaves no image';
  if (d.kind === 'folder') return typeof d.path === 'string' && pos(d.base) && channels(d.channels) ? undefined : 'an image folder without a path, side or channels';
  if (d.kind === 'synthetic') return allOf(d, ['seed', 'train', 'test', 'size', 'classes'], nat) && channels(d.channels) ? undefined : 'synthetic data with malformed sizes';
  return `its kind ${excerpt(JSON.stringify(d.kind) ?? 'undefined', 24)} is not idx, folder or synthetic`;
};

const configProblem = (c: unknown): string | undefined => {
  if (!isObj(c)) return 'it is not an object';
  if (!allOf(c, ['batch', 'evalBatch'], pos) || !allOf(c, ['epochs', 'validateEvery'], nat) || !num(c.seed) || typeof c.colour !== 'boolean') return 'its batch sizes, epochs, seed or colour flag are malformed';
  if (!isObj(c.sgd) || !allOf(c.sgd, ['lr', 'momentum', 'weightDecay'], num)) return 'its SGD rates are malformed';
  if (!isObj(c.plateau) || !allOf(c.plateau, ['patience', 'factor', 'maxDrops'], num)) return 'its plateau schedule is malformed';
  if (c.dropAt !== undefined && !(Array.isArray(c.dropAt) && c.dropAt.every(nat))) return 'its dropAt epochs are malformed';
  return undefined;
};

const stateProblem = (s: unknown): string | undefined => {
  if (!isObj(s)) return 'it is not an object';
  if (!allOf(s, ['epoch', 'step', 'totalSteps'], nat)) return 'its epoch and step counts are malformed';
  if (!isObj(s.schedule) || !num(s.schedule.lr) || !nat(s.schedule.sinceBest) || !nat(s.schedule.drops) || typeof s.schedule.done !== 'boolean' || !(s.schedule.best === null || num(s.schedule.best))) return 'its learning-rate schedule is malformed';
  if (!Array.isArray(s.history) || !s.history.every(isObj)) return 'its training curve is malformed';
  if (!isObj(s.period) || !allOf(s.period, ['loss', 'misses', 'images', 'steps'], num)) return 'its running sums are malformed';
  return undefined;
};

const splitProblem = (s: unknown): string | undefined =>
  isObj(s) && nat(s.val) && (s.trainLimit === undefined || pos(s.trainLimit)) ? undefined : 'it is not a held-out count (and a limit)';

/**
 * Decodes a training checkpoint. With `model`, a checkpoint of another model is
 * refused; the weights are always checked against the recorded spec.
 */
export const decodeCheckpoint = (buf: Uint8Array, what: string, model?: string): E.Either<AlexnetError, TrainingCheckpoint> =>
  E.chain(({ tensors, metadata }: Safetensors): E.Either<AlexnetError, TrainingCheckpoint> => {
    if (metadata.format !== FORMAT) return E.left(checkpointError(`${what} is a safetensors file but not an alexnet-ts checkpoint (format '${excerpt(metadata.format ?? 'none')}', expected '${FORMAT}')`));
    if (model !== undefined && metadata.model !== model) {
      return E.left(checkpointError(`${what} is a checkpoint of ${excerpt(metadata.model ?? 'no model')}, not ${model}; pass --model ${excerpt(metadata.model ?? '?')} or a checkpoint of ${model}`));
    }
    const spec = parseJson<NetSpec>(metadata, 'spec', what);
    const classes = parseJson<string[]>(metadata, 'classes', what);
    const data = parseJson<DataRef>(metadata, 'data', what);
    const split = parseJson<TrainingCheckpoint['split']>(metadata, 'split', what);
    const prep = parseJson<Omit<Preprocessing, 'mean'>>(metadata, 'preprocessing', what);
    const config = parseJson<TrainConfig>(metadata, 'config', what);
    const state = parseJson<TrainState>(metadata, 'state', what);
    for (const f of [spec, classes, data, split, prep, config, state]) if (E.isLeft(f)) return f;
    const s = (spec as E.Right<NetSpec>).right;
    const refuse = (key: string, problem: string) => E.left(checkpointError(`${what}: its recorded ${key} is malformed: ${problem}`));
    const specBad = specProblem(s);
    if (specBad) return refuse('spec', specBad);
    const rows = describe(s);
    if (E.isLeft(rows)) return E.left(checkpointError(`${what}: its recorded spec is not a valid network (${excerpt(rows.left.message, 200)})`));
    const params = new Map<string, Tensor>();
    const velocity = new Map<string, Tensor>();
    for (const [n, t] of tensors) {
      if (n.startsWith(VELOCITY)) velocity.set(n.slice(VELOCITY.length), t);
      else if (n !== MEAN) params.set(n, t);
    }
    const wrong = (e: E.Either<AlexnetError, unknown>, which: string) =>
      E.isLeft(e) ? E.left(checkpointError(`${what}: its ${which} do not fit ${excerpt(s.name)}: ${excerpt(e.left.message, 200)}`)) : undefined;
    const badParams = wrong(checkParams(s, params), 'weights') ?? wrong(checkParams(s, velocity), 'momentum buffers');
    if (badParams) return badParams;
    const recipe: [string, string | undefined][] = [
      ['preprocessing', prepProblem((prep as E.Right<unknown>).right, s)],
      ['classes', Array.isArray((classes as E.Right<unknown>).right) && (classes as E.Right<unknown[]>).right.length === s.classes && (classes as E.Right<unknown[]>).right.every((c) => typeof c === 'string') ? undefined : `they are not ${s.classes} names, one per class`],
      ['split', splitProblem((split as E.Right<unknown>).right)],
      ['training configuration', configProblem((config as E.Right<unknown>).right)],
      ['training state', stateProblem((state as E.Right<unknown>).right)],
    ];
    for (const [key, problem] of recipe) if (problem) return refuse(key, problem);
    const dataBad = dataProblem((data as E.Right<unknown>).right, (prep as E.Right<{ size: number }>).right);
    if (dataBad) return refuse('data source', dataBad);
    // Training stops at the first non-finite loss and keeps the last good checkpoint, so no checkpoint of ours holds one.
    for (const [n, t] of tensors) {
      const at = t.data.findIndex((x) => !Number.isFinite(x));
      if (at >= 0) return E.left(checkpointError(`${what}: tensor '${excerpt(n)}' holds ${t.data[at]} at index ${at}; a checkpoint's values are finite`));
    }
    const p = (prep as E.Right<Omit<Preprocessing, 'mean'>>).right;
    const mean = tensors.get(MEAN);
    if (!mean || mean.size !== p.channels * p.size * p.size || mean.dtype !== 'float32') {
      return E.left(checkpointError(`${what}: the mean image '${MEAN}' is missing or not [${p.channels}, ${p.size}, ${p.size}] float32`));
    }
    return E.right({
      spec: s,
      params,
      velocity,
      prep: { ...p, mean: mean.data as Float32Array },
      classNames: (classes as E.Right<string[]>).right,
      data: (data as E.Right<DataRef>).right,
      split: (split as E.Right<TrainingCheckpoint['split']>).right,
      config: (config as E.Right<TrainConfig>).right,
      state: (state as E.Right<TrainState>).right,
      backend: metadata.backend ?? 'unknown',
    });
  })(decodeSafetensors(buf, what));

export const loadCheckpoint = (path: string, model?: string): E.Either<AlexnetError, TrainingCheckpoint> => {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return E.left(checkpointError(code === 'ENOENT' ? `no checkpoint at ${path}` : `cannot read ${path}: ${(e as Error).message}`));
  }
  return decodeCheckpoint(buf, path, model);
};
