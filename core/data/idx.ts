/**
 * The IDX format of (Fashion-)MNIST: a 4-byte magic number (two zero bytes, a
 * type code, the number of dimensions), one big-endian 32-bit size per
 * dimension, then the values. Only unsigned bytes (type 0x08) occur in the
 * image and label files, so only they are read. Files may be gzipped.
 *
 * Everything is checked before it is trusted: the magic number, the number of
 * dimensions, the sizes, and that the file holds exactly the values its header
 * promises (neither truncated nor padded).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { type AlexnetError, datasetError, excerpt } from '../errors.ts';

export interface Idx {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const TYPE_UBYTE = 0x08;

/** Parses an IDX buffer (already gunzipped). `what` names it in messages. */
export const parseIdx = (buf: Uint8Array, what: string, wantDims?: number): E.Either<AlexnetError, Idx> => {
  const bad = (msg: string) => E.left(datasetError(`${what}: ${msg}`));
  if (buf.length < 4) return bad(`only ${buf.length} bytes, too short for an IDX header`);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== TYPE_UBYTE || buf[3] < 1 || buf[3] > 4) {
    const magic = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return bad(`wrong magic number ${magic}; an IDX file of unsigned bytes starts 00 00 08 then its number of dimensions (1 to 4)`);
  }
  const n = buf[3];
  if (wantDims !== undefined && n !== wantDims) return bad(`has ${n} dimensions, expected ${wantDims}`);
  const headerBytes = 4 + 4 * n;
  if (buf.length < headerBytes) return bad(`header needs ${headerBytes} bytes but the file has ${buf.length}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < n; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    if (size === 0) return bad(`dimension ${d} has size 0`);
    dims.push(size);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - headerBytes;
  if (have < count) return bad(`truncated: the header promises ${dims.join(' x ')} = ${count} values but only ${have} follow`);
  if (have > count) return bad(`${have - count} bytes after the ${dims.join(' x ')} = ${count} values the header promises`);
  return E.right({ dims, data: buf.subarray(headerBytes) });
};

/** The most bytes an IDX file may hold once unzipped: past any (Fashion-)MNIST-like set, short of what a Buffer holds. */
export const MAX_IDX_BYTES = 2 ** 31 - 1;

/** How many bytes the IDX header at the start of `head` promises, or undefined when `head` does not hold a whole header. */
const promisedBytes = (head: Uint8Array): number | undefined => {
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || head[3] < 1 || head[3] > 4 || head.length < 4 + 4 * head[3]) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let count = 1;
  for (let d = 0; d < head[3]; d++) count *= view.getUint32(4 + 4 * d, false);
  return 4 + 4 * head[3] + count;
};

/**
 * Decodes the bytes of an IDX file, gunzipping them when they start with the
 * gzip magic bytes. The unzipped size is bounded by what the IDX header
 * promises (read from the first unzipped bytes), so a small damaged or
 * hostile .gz file cannot make the reader allocate gigabytes.
 */
export const decodeIdx = (raw: Uint8Array, what: string, wantDims?: number): E.Either<AlexnetError, Idx> => {
  if (raw[0] !== 0x1f || raw[1] !== 0x8b) return parseIdx(raw, what, wantDims);
  // The header from the first bytes only, flushed rather than finished (a deflate stream unzips to at most
  // ~1000 times its size): a few dozen bytes usually hold it, a few kilobytes when gzip stored a long name.
  let head: Uint8Array | undefined;
  let promised: number | undefined;
  for (const k of [64, 512, 4096]) {
    try {
      head = gunzipSync(raw.subarray(0, k), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch {
      break;
    }
    promised = promisedBytes(head);
    if (promised !== undefined || k >= raw.length) break;
  }
  if (promised !== undefined && promised > MAX_IDX_BYTES) {
    return E.left(datasetError(`${what}: its header promises ${promised - 4 - 4 * head![3]} values, more than the ${MAX_IDX_BYTES} bytes an IDX file may hold`));
  }
  const limit = promised === undefined ? MAX_IDX_BYTES : promised + 1;
  let unzipped: Uint8Array;
  try {
    unzipped = gunzipSync(raw, { maxOutputLength: limit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      return E.left(datasetError(`${what}: unzips to more than the ${limit - 1} bytes its header promises (trailing data, or not an IDX file)`));
    }
    return E.left(datasetError(`${what}: damaged gzip data (${excerpt((e as Error).message)})`));
  }
  return parseIdx(unzipped, what, wantDims);
};

/** Reads an IDX file, gunzipping it when it starts with the gzip magic bytes. */
export const readIdxFile = (path: string, wantDims?: number): E.Either<AlexnetError, Idx> => {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    return E.left(datasetError(`cannot read ${path}: ${excerpt((e as Error).message, 200)}`));
  }
  return decodeIdx(raw, path, wantDims);
};

/** An image file [N, H, W] and its label file [N], checked against each other. */
export interface IdxPair {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}

export const readIdxPair = (imagesPath: string, labelsPath: string): E.Either<AlexnetError, IdxPair> =>
  E.chain((im: Idx) =>
    E.chain((lb: Idx): E.Either<AlexnetError, IdxPair> => {
      if (lb.dims[0] !== im.dims[0]) {
        return E.left(datasetError(`length mismatch: ${imagesPath} holds ${im.dims[0]} images but ${labelsPath} holds ${lb.dims[0]} labels`));
      }
      return E.right({ images: im.data, labels: lb.data, count: im.dims[0], height: im.dims[1], width: im.dims[2] });
    })(readIdxFile(labelsPath, 1)),
  )(readIdxFile(imagesPath, 3));

/** Finds `name` or `name.gz` in `dir`. */
export const findIdx = (dir: string, name: string): string | undefined =>
  [join(dir, name), join(dir, `${name}.gz`)].find((p) => existsSync(p));
