/**
 * `alexnet train`, `eval`, `classify` and `filters` as a user runs them: help,
 * one-line errors for bad flags and files, a short run end to end with its
 * checkpoint, pictures and resume, and the fallback to synthetic data on a
 * machine without Fashion-MNIST.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
const alexnet = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

/** A short run on synthetic shapes: 260 training images, batch 20, the fast CPU backend. */
const quick = ['--data', 'synthetic', '--train-limit', '260', '--val', '20', '--batch', '20', '--validate-every', '6', '--test-limit', '30', '--backend', 'cpu'];
const run = join(dir, 'run');
const ckpt = join(run, 'checkpoint.safetensors');

test('every command has --help', () => {
  for (const [cmd, words] of [['train', '--resume'], ['eval', '--crops'], ['classify', '<image>'], ['filters', '--zoom']] as const) {
    const r = alexnet([cmd, '--help']);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, `usage: alexnet ${cmd}`);
    assert.match(r.stdout, words);
  }
});

test('bad flags get one line naming the flag and a non-zero exit', () => {
  for (const [args, msg] of [
    [['train', '--batch', '0'], "--batch must be a whole number from 1 to 4096, got '0'"],
    [['train', '--lr', 'fast'], "--lr must be a number of at least 0, got 'fast'"],
    [['train', '--backend', 'tpu'], '--backend must be one of auto, gpu, gpu:webgpu, cpu, reference'],
    [['train', '--data', join(dir, 'nowhere')], 'no such folder'],
    [['train', '--model', 'alexnet', '--data', '/usr/share/datasets/fashion-mnist'], 'alexnet takes 256 x 256 RGB images'],
    [['train', '--resume'], '--resume needs --out DIR'],
    [['train', '--drop-at', '5,x'], "--drop-at takes epoch numbers separated by commas (like 15,25), got '5,x'"],
    [['train', '--drop-at', '6,3'], '--drop-at: drop epochs must rise, got 6 then 3'],
    [['train', '--epochs', '10', '--drop-at', '4,10'], '--drop-at: a drop after epoch 10 never happens in a run of 10 epochs'],
    [['eval', '--checkpoint', join(dir, 'none.safetensors')], 'no checkpoint at'],
    [['classify'], 'classify takes one image file, got 0'],
    [['train', '--bogus'], "'--bogus'"],
  ] as const) {
    const r = alexnet([...args]);
    assert.is.not(r.status, 0, `${args.join(' ')} should fail`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(lines[0].startsWith('alexnet: ') && lines[0].includes(msg), `${args.join(' ')}: ${lines[0]}`);
  }
});

test('train: a short run prints the test error and writes the checkpoint, the filters and the curve', () => {
  const r = alexnet(['train', ...quick, '--epochs', '1', '--out', run]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /data: synthetic shapes/);
  assert.match(r.stdout, /240 for training, 20 held out for validation, 30 for testing/);
  assert.match(r.stdout, /test error on 30 images \(ten crops, softmax averaged\): top-1 [\d.]+%, top-5 [\d.]+%/);
  assert.match(r.stdout, `checkpoint: ${ckpt}`);
  assert.match(r.stderr, /validation at epoch 0\.50: top-1/);
  for (const f of ['checkpoint.safetensors', 'filters.png', 'curve.svg']) assert.ok(existsSync(join(run, f)), f);
  const png = PNG.sync.read(readFileSync(join(run, 'filters.png')));
  assert.ok(png.width > 100 && png.height > 100);
  const svg = readFileSync(join(run, 'curve.svg'), 'utf8');
  assert.match(svg, /<svg/);
  assert.is((svg.match(/<polyline/g) ?? []).length, 3);
});

test('train --resume continues where the run stopped', () => {
  const r = alexnet(['train', '--resume', '--out', run, '--epochs', '2', '--backend', 'cpu', '--test-limit', '10', '--test-crops', '1']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /resuming .*checkpoint\.safetensors at epoch 1, step 0/);
  assert.match(r.stdout, /training stopped after 2\.00 epochs \(24 steps\)/);
  const again = alexnet(['train', '--resume', '--out', run, '--lr', '0.1']);
  assert.is(again.status, 2, 'a usage error exits 2');
  assert.match(again.stderr, /--resume keeps the run's recipe; drop --lr/);
});

test('train --drop-at announces each drop at its epoch boundary, wherever the validations fall', () => {
  // 12 steps an epoch, a validation every 5 steps: none of them falls on the boundary.
  const r = alexnet(['train', ...quick, '--validate-every', '5', '--epochs', '3', '--drop-at', '1,2', '--test-limit', '10', '--test-crops', '1', '--out', join(dir, 'steps')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /lr 0\.01 \(\/10 after epochs 1, 2\)/);
  const drops = r.stderr.split(/[\r\n]+/).filter((l) => l.startsWith('step schedule'));
  assert.equal(drops, ['step schedule: lr 0.01 -> 0.001 from epoch 2', 'step schedule: lr 0.001 -> 0.0001 from epoch 3']);
});

test('eval, classify and filters read the checkpoint', () => {
  const e = alexnet(['eval', '--checkpoint', ckpt, '--limit', '20', '--crops', '1', '--backend', 'cpu']);
  assert.is(e.status, 0, e.stderr);
  assert.match(e.stdout, /test error on 20 images \(centre crop\): top-1 [\d.]+%, top-5 [\d.]+%/);
  // a white ring on black
  const img = new PNG({ width: 40, height: 40 });
  for (let y = 0; y < 40; y++)
    for (let x = 0; x < 40; x++) {
      const r = Math.hypot(x - 20, y - 20);
      img.data.fill(r > 10 && r < 14 ? 230 : 20, (y * 40 + x) * 4, (y * 40 + x) * 4 + 3);
      img.data[(y * 40 + x) * 4 + 3] = 255;
    }
  const file = join(dir, 'ring.png');
  writeFileSync(file, PNG.sync.write(img));
  const c = alexnet(['classify', file, '--checkpoint', ckpt, '--backend', 'cpu']);
  assert.is(c.status, 0, c.stderr);
  const lines = c.stdout.trim().split('\n');
  assert.is(lines.length, 5);
  const ps = lines.map((l) => Number(l.match(/([\d.]+)%$/)![1]));
  assert.ok(ps.every((p, i) => i === 0 || p <= ps[i - 1]), 'sorted by probability');
  assert.ok(ps.reduce((a, b) => a + b, 0) <= 100.01);
  const f = alexnet(['filters', '--checkpoint', ckpt, '--out', join(dir, 'f.png')]);
  assert.is(f.status, 0, f.stderr);
  assert.match(f.stdout, /32 conv1 kernels of 5x5x3 \(RGB\), tower 1's 16 above, tower 2's 16 below/);
  assert.ok(PNG.sync.read(readFileSync(join(dir, 'f.png'))).width > 0);
});

test('a damaged checkpoint, or one of another model, is refused in one line', () => {
  const bytes = readFileSync(ckpt);
  bytes[bytes.length - 7] ^= 0xff;
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, bytes);
  const r = alexnet(['eval', '--checkpoint', bad]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /^alexnet: .*bad\.safetensors is not a valid checkpoint: its contents do not match the SHA-256/);
  const m = alexnet(['eval', '--checkpoint', ckpt, '--model', 'alexnet']);
  assert.is(m.status, 1);
  assert.match(m.stderr, /is a checkpoint of alexnet-mini, not alexnet/);
  const i = alexnet(['classify', join(dir, 'f.svg'), '--checkpoint', ckpt]);
  assert.is(i.status, 1);
  assert.match(i.stderr, /not a readable PNG or JPEG image/);
});

test('a blow-up stops training with one line, keeping the last good checkpoint', () => {
  const out = join(dir, 'wild');
  const r = alexnet(['train', ...quick, '--validate-every', '1', '--lr', '1e30', '--out', out]);
  assert.is(r.status, 1, r.stdout);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, /^alexnet: the loss became (NaN|Infinity|-Infinity) at epoch 1, step \d+ \(lr 1e\+30\); training stopped\. The last good checkpoint is kept: .*wild\/checkpoint\.safetensors \(epoch 0, step \d+\)\. Try a lower --lr\.$/);
  const e = alexnet(['eval', '--checkpoint', join(out, 'checkpoint.safetensors'), '--limit', '5', '--crops', '1', '--backend', 'cpu']);
  assert.is(e.status, 0, e.stderr);
});

test('without Fashion-MNIST installed, training falls back to the synthetic set and says how to get the real data', () => {
  const r = alexnet(['train', '--train-limit', '100', '--val', '20', '--batch', '20', '--epochs', '1', '--test-limit', '10', '--test-crops', '1', '--backend', 'cpu', '--out', join(dir, 'fresh')], { ALEXNET_FASHION_MNIST: join(dir, 'absent') });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /note: Fashion-MNIST is not installed, so training uses the built-in synthetic shapes; install Fashion-MNIST with `apt-get install dataset-fashion-mnist`/);
  assert.match(r.stdout, /test error on 10 images/);
});

test.run();
