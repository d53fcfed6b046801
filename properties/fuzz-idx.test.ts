/**
 * Fuzzed IDX files, plain and gzipped: valid files made here, then truncated,
 * flipped, padded, their dimension sizes set to 0, 2^31, 2^32 - 1 and the
 * like, their magic number and type code changed; the gzipped ones damaged
 * before and after compression, and zip bombs whose header promises a few
 * bytes. Each answer is a file whose values fill its dimensions exactly or
 * one line naming it, in bounded time and memory. ALEXNET_FUZZ_SCALE=10 runs
 * ten times the cases.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeIdx, type Idx, parseIdx } from '../core/data/idx.ts';
import { concat, guarded, judge, mutateAll, mutationsArb, runs } from './mutate.ts';

const WHAT = 'fuzzed-idx3-ubyte';
const seen = { left: 0, right: 0 };

const idx = (dims: number[], values: Uint8Array): Uint8Array => {
  const head = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(head.buffer);
  v.setUint8(2, 0x08);
  v.setUint8(3, dims.length);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  return concat(head, values);
};

const validArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }).chain((dims) =>
  fc.uint8Array({ minLength: dims.reduce((a, b) => a * b, 1), maxLength: dims.reduce((a, b) => a * b, 1) }).map((values) => ({ dims, file: idx(dims, values) })));

/** The header's fields: the magic number, and the size of each of up to four dimensions. */
const FIELDS = [0, 2, 3, 4, 8, 12, 16];

const fits = (file: Uint8Array | undefined, wantDims?: number) => (r: Idx): void => {
  assert.ok(r.dims.length >= 1 && r.dims.length <= 4, `${r.dims.length} dimensions`);
  if (wantDims !== undefined) assert.is(r.dims.length, wantDims);
  assert.ok(r.dims.every((d) => Number.isSafeInteger(d) && d >= 1), `dims ${r.dims}`);
  assert.is(r.data.length, r.dims.reduce((a, b) => a * b, 1), 'the values fill the dimensions exactly');
  if (file) assert.ok(Buffer.from(r.data).equals(Buffer.from(file.subarray(file.length - r.data.length))), 'the values are the file\'s last bytes');
};

const show = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `${x.length} bytes` : x));

test('IDX: any damage to a valid file gives values that fill its dimensions or one line naming it', () => {
  fc.assert(fc.property(validArb, mutationsArb(FIELDS), fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), ({ file }, ms, wantDims) => {
    const bad = mutateAll(file, ms);
    const context = `mutations ${show(ms)}`;
    const r = judge(guarded(context, bad.length, () => parseIdx(bad, WHAT, wantDims)), WHAT, context, fits(bad, wantDims));
    seen[r]++;
  }), { numRuns: runs(20000) });
});

test('IDX: gzipped files, damaged before or after compression, give the same answers in one line', () => {
  fc.assert(fc.property(validArb, mutationsArb(FIELDS), fc.boolean(), fc.integer({ min: 1, max: 9 }), ({ file }, ms, afterZip, level) => {
    const bad = afterZip ? mutateAll(gzipSync(file, { level }), ms) : gzipSync(mutateAll(file, ms), { level });
    const context = `${afterZip ? 'zipped, then ' : ''}mutations ${show(ms)}`;
    const r = judge(guarded(context, bad.length, () => decodeIdx(bad, WHAT)), WHAT, context, fits(undefined));
    seen[r]++;
  }), { numRuns: runs(5000) });
});

test('IDX: regressions the fuzzing found', () => {
  // A zip bomb: 64 MiB of zeros behind a header that promises one value. Unzipped whole, it costs 64 MiB; bounded by the header, a few bytes.
  const member = gzipSync(new Uint8Array(1 << 20), { level: 9 });
  const bomb = concat(gzipSync(idx([1], Uint8Array.of(7))), ...Array.from({ length: 64 }, () => member));
  const r = guarded('a zip bomb', bomb.length, () => decodeIdx(bomb, WHAT), 4 << 20);
  assert.ok(E.isLeft(r) && /unzips to more than the 9 bytes its header promises/.test(r.left.message), E.isLeft(r) ? r.left.message : 'accepted');
  // A header promising 2^48 values, zipped: refused from the header, before anything is unzipped.
  const huge = gzipSync(idx([65536, 65536, 65536], new Uint8Array(64)));
  const h = guarded('2^48 values promised', huge.length, () => decodeIdx(huge, WHAT), 4 << 20);
  assert.ok(E.isLeft(h) && /promises 281474976710656 values, more than/.test(h.left.message), E.isLeft(h) ? h.left.message : 'accepted');
  // Sizes whose product passes 2^53, not zipped: refused as truncated, the count not trusted.
  const over = idx([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], new Uint8Array(8));
  judge(guarded('2^128 values promised', over.length, () => parseIdx(over, WHAT)), WHAT, '2^128', () => assert.unreachable('accepted'));
  // A truncated gzip stream: the zlib message, in one line.
  const cut = gzipSync(idx([3, 4], new Uint8Array(12))).subarray(0, 20);
  const c = decodeIdx(cut, WHAT);
  assert.ok(E.isLeft(c) && /damaged gzip data \(unexpected end of file\)/.test(c.left.message), E.isLeft(c) ? c.left.message : 'accepted');
});

test('(cases read, accepted and refused)', () => {
  console.log(`  IDX fuzzing: ${seen.left + seen.right} files, ${seen.right} accepted and consistent, ${seen.left} refused in one line`);
});

test.run();
