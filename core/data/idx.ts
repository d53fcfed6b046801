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
import { gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { type AlexnetError, datasetError } from '../errors.ts';

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

/** Reads an IDX file, gunzipping it when it starts with the gzip magic bytes. */
export const readIdxFile = (path: string, wantDims?: number): E.Either<AlexnetError, Idx> => {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    return E.left(datasetError(`cannot read ${path}: ${(e as Error).message}`));
  }
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      return E.left(datasetError(`${path}: damaged gzip data (${(e as Error).message})`));
    }
  }
  return parseIdx(raw, path, wantDims);
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
