/**
 * Fuzzed images, as `classify` and image folders read them (loadImage: sharp,
 * that is libvips): valid PNG and JPEG files made here, grey and colour, with
 * and without alpha, then truncated, flipped, padded with trailing garbage,
 * their chunk and segment lengths and their width and height set to 0, 2^16 - 1,
 * 2^31 and the like. Each answer is an image of the asked size or one line of
 * our own naming the file and the problem (not libvips' log copied in), in
 * bounded time and memory. ALEXNET_FUZZ_SCALE=10 runs ten times the cases.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decoderReason, loadImage } from '../core/data/image-folder.ts';
import { guardedAsync, judge, mutateAll, mutationsArb, runs } from './mutate.ts';

const dir = mkdtempSync(join(tmpdir(), 'fuzz-image-'));
const seen = { left: 0, right: 0 };
let serial = 0;

const pixels = (w: number, h: number, c: number, seed: number) => {
  const p = Buffer.alloc(w * h * c);
  for (let i = 0; i < p.length; i++) p[i] = (i * 7919 + seed * 104729) % 251;
  return p;
};

/** Offsets of the length fields of a PNG's chunks and of IHDR's width and height. */
const pngFields = (b: Uint8Array): number[] => {
  const out = [16, 20];
  for (let at = 8; at + 8 <= b.length;) {
    out.push(at);
    at += 12 + new DataView(b.buffer, b.byteOffset).getUint32(at, false);
  }
  return out;
};

/** Offsets of the length fields of a JPEG's segments and of its frame's height and width. */
const jpegFields = (b: Uint8Array): number[] => {
  const out: number[] = [];
  for (let at = 2; at + 4 <= b.length && b[at] === 0xff;) {
    const marker = b[at + 1];
    if (marker === 0xda) break; // the scan: entropy-coded data follows
    out.push(at + 2);
    if (marker >= 0xc0 && marker <= 0xc3) out.push(at + 5, at + 7);
    at += 2 + ((b[at + 2] << 8) | b[at + 3]);
  }
  return out;
};

interface Sample { readonly label: string; readonly bytes: Uint8Array; readonly fields: number[] }

const samples = async (): Promise<Sample[]> => {
  const out: Sample[] = [];
  const sizes: [number, number][] = [[1, 1], [7, 5], [16, 16], [33, 20]];
  for (const [i, [w, h]] of sizes.entries()) {
    for (const c of [1, 3, 4] as const) {
      const raw = sharp(pixels(w, h, c, i), { raw: { width: w, height: h, channels: c } });
      const png = new Uint8Array(await raw.clone().png({ progressive: i % 2 === 1 }).toBuffer());
      out.push({ label: `png ${w}x${h}x${c}${i % 2 ? ' interlaced' : ''}`, bytes: png, fields: pngFields(png) });
      if (c !== 4) {
        const jpg = new Uint8Array(await raw.clone().jpeg({ quality: 80, progressive: i % 2 === 1 }).toBuffer());
        out.push({ label: `jpeg ${w}x${h}x${c}${i % 2 ? ' progressive' : ''}`, bytes: jpg, fields: jpegFields(jpg) });
      }
    }
  }
  // pngjs writes the files the CLI's pictures are: RGBA, 8 bits
  const img = new PNG({ width: 9, height: 6 });
  img.data.set(pixels(9, 6, 4, 5));
  const pj = new Uint8Array(PNG.sync.write(img));
  out.push({ label: 'pngjs 9x6 rgba', bytes: pj, fields: pngFields(pj) });
  return out;
};

const read = async (bytes: Uint8Array, base: number, channels: 1 | 3, context: string) => {
  const path = join(dir, `case-${serial++}.img`);
  writeFileSync(path, bytes);
  const rss = process.memoryUsage().rss;
  const r = await guardedAsync(context, bytes.length, () => loadImage(path, base, channels));
  const grew = process.memoryUsage().rss - rss;
  assert.ok(grew < 512 << 20, `${context}: the process grew by ${grew >> 20} MiB`);
  const verdict = judge(r, path, context, (px) => assert.is(px.length, channels * base * base, 'an image of the asked size'));
  rmSync(path);
  seen[verdict]++;
  return r;
};

test('images: any damage to a valid PNG or JPEG gives an image of the asked size or one line naming the file', async () => {
  const pool = await samples();
  const show = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `${x.length} bytes` : x));
  await fc.assert(fc.asyncProperty(fc.nat({ max: pool.length - 1 }).chain((k) => fc.tuple(fc.constant(k), mutationsArb(pool[k].fields))), fc.constantFrom(1 as const, 3 as const), fc.constantFrom(4, 17), async ([k, ms], channels, base) => {
    await read(mutateAll(pool[k].bytes, ms), base, channels, `${pool[k].label}, mutations ${show(ms)}`);
  }), { numRuns: runs(8000) });
});

test('images: regressions the fuzzing found', async () => {
  const good = new Uint8Array(await sharp(pixels(16, 12, 3, 1), { raw: { width: 16, height: 12, channels: 3 } }).jpeg().toBuffer());
  const garbage = new TextEncoder().encode('garbage garbage garbage garbage');
  // A progressive JPEG of a few hundred bytes whose frame claims 8000 x 8000 pixels: libvips
  // decoded it, grey past the data, through a 180 MiB coefficient buffer (16383 x 16383: gigabytes).
  const progressive = new Uint8Array(await sharp(pixels(7, 5, 3, 2), { raw: { width: 7, height: 5, channels: 3 } }).jpeg({ progressive: true }).toBuffer());
  const sof = Buffer.from(progressive).indexOf(Buffer.from([0xff, 0xc2]));
  new DataView(progressive.buffer).setUint16(sof + 5, 8000);
  new DataView(progressive.buffer).setUint16(sof + 7, 8000);
  const cases: [string, Uint8Array, RegExp][] = [
    ['a progressive JPEG claiming 8000 x 8000 pixels', progressive, /its header claims 8000 x 8000 pixels, more than a \d+-byte JPEG file holds \(truncated or damaged\)$/],
    // libvips' log of a JPEG signature followed by garbage: "VipsJpeg: Unsupported marker type 0x67", three times, one a line
    ['a JPEG signature, then garbage', Uint8Array.from([0xff, 0xd8, 0xff, ...garbage]), /not a readable PNG or JPEG image: a damaged or truncated JPEG file \(the decoder: Unsupported marker type 0x67\)$/],
    // "premature end of JPEG image" and "JPEG datastream contains no image", five lines in all
    ['a JPEG cut in half', good.subarray(0, good.length >> 1), /a damaged or truncated JPEG file \(the decoder: premature end of JPEG image\)$/],
    ['text', new TextEncoder().encode('hello'), /it starts with 68 65 6c 6c, not a PNG or JPEG signature$/],
    ['nothing', new Uint8Array(0), /the file is empty$/],
  ];
  for (const [label, bytes, says] of cases) {
    const r = await read(bytes, 8, 3, label);
    assert.ok(E.isLeft(r), `${label}: accepted`);
    if (E.isLeft(r)) assert.match(r.left.message, says, label);
  }
  const missing = await loadImage(join(dir, 'absent.png'), 8, 3);
  assert.match(E.isLeft(missing) ? missing.left.message : 'accepted', /absent\.png: not a readable PNG or JPEG image: there is no such file$/);
  assert.is(decoderReason('Input file has corrupt header: VipsJpeg: premature end of JPEG image\nVipsJpeg: JPEG datastream contains no image\nVipsJpeg: premature end of JPEG image'), 'premature end of JPEG image');
  assert.is(decoderReason('Input file has corrupt header:'), 'no reason given');
});

test('(cases decoded, accepted and refused)', () => {
  console.log(`  image fuzzing: ${seen.left + seen.right} files, ${seen.right} decoded at the asked size, ${seen.left} refused in one line`);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
