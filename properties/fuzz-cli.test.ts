/**
 * What the fuzzed readers' refusals look like from the command line: a
 * damaged checkpoint, a re-signed checkpoint with a hostile recipe, an image
 * that is a JPEG signature followed by garbage, a truncated PNG and a
 * damaged gzipped IDX folder each give exit 1, exactly one line on stderr
 * naming the file (no libvips log, no stack trace), nothing on stdout, and
 * no output file written. A few runs only: each costs seconds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { PNG } from 'pngjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSafetensors, encodeSafetensors, saveCheckpoint } from '../core/checkpoint.ts';
import { initParams } from '../core/params.ts';
import { initialState } from '../core/train/loop.ts';
import { tinyConfig, tinyData, tinySetup } from './train-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'fuzz-cli-'));
const alexnet = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });

const good = join(dir, 'good.safetensors');
{
  const { spec, prep, net } = tinySetup(3, tinyData(60, 10));
  const c = tinyConfig();
  saveCheckpoint(good, {
    spec, params: net.parameters(), velocity: initParams(spec, 99), prep, classNames: 'abcdefghij'.split(''),
    data: { kind: 'synthetic', seed: 7, train: 60, test: 10, size: 20, channels: 3, classes: 10 }, split: { val: 40 },
    config: c, state: { ...initialState(c), epoch: 2, step: 5, totalSteps: 21 }, backend: 'reference',
  });
}

/** Exit 1, one line on stderr naming `file` and saying `says`, nothing on stdout. */
const refused = (r: ReturnType<typeof alexnet>, file: string, says: RegExp) => {
  assert.is(r.status, 1, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `stderr: ${r.stderr}`);
  assert.ok(lines[0].startsWith('alexnet: ') && lines[0].includes(file), lines[0]);
  assert.match(lines[0], says);
  assert.not.match(r.stderr, /VipsJpeg|    at /);
  assert.is(r.stdout, '');
};

test('a damaged checkpoint: eval refuses it in one line', () => {
  const bytes = readFileSync(good);
  const bad = join(dir, 'truncated.safetensors');
  writeFileSync(bad, bytes.subarray(0, 200));
  refused(alexnet(['eval', '--checkpoint', bad, '--backend', 'reference']), bad, /is not a valid checkpoint: the header claims \d+ bytes/);
});

test('a re-signed checkpoint with no preprocessing: filters refuses it in one line and writes no picture', () => {
  const { tensors, metadata } = E.getOrElseW(() => { throw new Error('good'); })(decodeSafetensors(readFileSync(good), good));
  const bad = join(dir, 'hostile.safetensors');
  writeFileSync(bad, encodeSafetensors(tensors, { ...metadata, preprocessing: 'null' }));
  const out = join(dir, 'filters.png');
  refused(alexnet(['filters', '--checkpoint', bad, '--out', out]), bad, /its recorded preprocessing is malformed/);
  assert.not.ok(existsSync(out), 'no picture written');
});

test('a JPEG signature followed by garbage, and a truncated PNG: classify refuses each in one line of its own', () => {
  const jpeg = join(dir, 'bad.jpg');
  writeFileSync(jpeg, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('garbage '.repeat(8))]));
  refused(alexnet(['classify', jpeg, '--checkpoint', good, '--backend', 'reference']), jpeg, /a damaged or truncated JPEG file \(the decoder: [^)]*\)$/);
  const img = new PNG({ width: 12, height: 12 });
  const png = join(dir, 'cut.png');
  writeFileSync(png, PNG.sync.write(img).subarray(0, 45));
  refused(alexnet(['classify', png, '--checkpoint', good, '--backend', 'reference']), png, /a damaged or truncated PNG file/);
});

test('a damaged gzipped IDX folder: train refuses it in one line and writes no run', () => {
  const data = join(dir, 'idx');
  mkdirSync(data);
  const idx = (dims: number[]) => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head[2] = 8;
    head[3] = dims.length;
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([head, Buffer.alloc(dims.reduce((a, b) => a * b, 1))]);
  };
  const images = gzipSync(idx([20, 8, 8]));
  writeFileSync(join(data, 'train-images-idx3-ubyte.gz'), images.subarray(0, images.length - 9)); // cut inside the stream
  writeFileSync(join(data, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([20])));
  writeFileSync(join(data, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([10, 8, 8])));
  writeFileSync(join(data, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([10])));
  const out = join(dir, 'run');
  refused(alexnet(['train', '--data', data, '--out', out, '--backend', 'reference']), 'train-images-idx3-ubyte.gz', /damaged gzip data \(unexpected end of file\)/);
  assert.not.ok(existsSync(out), 'no run folder');
});

test.run();
