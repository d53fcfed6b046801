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

/**
 * Decodes a training checkpoint. With `model`, a checkpoint of another model is
 * refused; the weights are always checked against the recorded spec.
 */
export const decodeCheckpoint = (buf: Uint8Array, what: string, model?: string): E.Either<AlexnetError, TrainingCheckpoint> =>
  E.chain(({ tensors, metadata }: Safetensors): E.Either<AlexnetError, TrainingCheckpoint> => {
    if (metadata.format !== FORMAT) return E.left(checkpointError(`${what} is a safetensors file but not an alexnet-ts checkpoint (format '${metadata.format ?? 'none'}', expected '${FORMAT}')`));
    if (model !== undefined && metadata.model !== model) {
      return E.left(checkpointError(`${what} is a checkpoint of ${metadata.model}, not ${model}; pass --model ${metadata.model} or a checkpoint of ${model}`));
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
    let rows: ReturnType<typeof describe>;
    try {
      rows = describe(s);
    } catch {
      return E.left(checkpointError(`${what}: its recorded spec is malformed`));
    }
    if (E.isLeft(rows)) return E.left(checkpointError(`${what}: its recorded spec is not a valid network (${rows.left.message})`));
    const params = new Map<string, Tensor>();
    const velocity = new Map<string, Tensor>();
    for (const [n, t] of tensors) {
      if (n.startsWith(VELOCITY)) velocity.set(n.slice(VELOCITY.length), t);
      else if (n !== MEAN) params.set(n, t);
    }
    const wrong = (e: E.Either<AlexnetError, unknown>, which: string) =>
      E.isLeft(e) ? E.left(checkpointError(`${what}: its ${which} do not fit ${s.name}: ${e.left.message}`)) : undefined;
    const badParams = wrong(checkParams(s, params), 'weights') ?? wrong(checkParams(s, velocity), 'momentum buffers');
    if (badParams) return badParams;
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
