/**
 * The page (npm run web) in a real browser: Debian's headless Chromium,
 * driven by playwright-core (tools/browser.mjs), with WebGL2 on SwiftShader.
 *
 * - The page finds WebGL2 and gpu.js runs on it (not its webasm or cpu modes).
 * - verify passes in the page on alexnet-mini (the whole kernel phase and the
 *   training pass) and on one pass of the full 227x227 network, on two gpu.js
 *   contexts, with the renderer named in the verdict.
 * - With ?gpu=webgpu gpu.js runs on WebGPU (each context a worker of its
 *   own, web/towers.ts), the adapter shown, and verify passes there too.
 * - A page built with a broken gpu.js kernel fails verify on that kernel (on
 *   WebGL2 and on WebGPU); a
 *   browser without WebGL gets a page that says so and a failing verify.
 * - Classify gives the top-5 of `alexnet classify` for the same checkpoint
 *   and image.
 * - The bench (quick plan) gives a valid history record with ratios to
 *   TensorFlow.js webgl measured in the same page.
 *
 * Without Chromium the tests are skipped with the reason, never passed; with
 * ALEXNET_REQUIRE_BROWSER=1 (CI) they fail.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateRecord } from '../bench/record.ts';
import { decodeCheckpoint } from '../core/checkpoint.ts';
import { imageSideOf } from '../core/classify.ts';
import { FASHION_MNIST_DIR, hasIdxFiles } from '../core/data/fashion-mnist.ts';
import { findIdx, readIdxFile } from '../core/data/idx.ts';
import { orThrow } from '../core/errors.ts';
// @ts-expect-error: a plain JavaScript module of the tools (no declarations)
import * as page from '../tools/browser.mjs';

type Browser = { close(): Promise<void> };
const REQUIRED = process.env.ALEXNET_REQUIRE_BROWSER === '1';
const chromium = page.findChromium() as { path?: string; reason?: string };
const run = chromium.path !== undefined || REQUIRED;
const test = suite('browser');
/** ALEXNET_BROWSER_ONLY=text runs only the tests whose name contains the text (and says so). */
const ONLY = process.env.ALEXNET_BROWSER_ONLY ?? '';
if (ONLY) console.log(`  browser tests narrowed to names containing '${ONLY}'`);
const it = (name: string, fn: () => Promise<void>) => {
  if (ONLY && !name.includes(ONLY)) return;
  if (run) test(name, fn);
  else {
    console.log(`  skipped: ${name}: ${chromium.reason}`);
    test.skip(name, fn);
  }
};

let site: { url: string; close(): void } | undefined;
let browser: Browser | undefined;
const dir = mkdtempSync(join(tmpdir(), 'browser-test-'));

test.before(async () => {
  if (!run) return;
  if (!chromium.path) throw new Error(`Chromium is required (ALEXNET_REQUIRE_BROWSER=1) but ${chromium.reason}`);
  site = await page.startPage();
  browser = await page.launch(page.SWIFTSHADER);
});
test.after(async () => {
  await browser?.close();
  site?.close();
});

const open = async (b: Browser = browser!, url = site!.url) => page.openPage(b, url) as Promise<{ page: unknown; env: { mode: string; gl: boolean; glInfo: { renderer: string; floatPrecisionBits: number } | null } | null; envText: string; errors: string[] }>;

it('the page finds WebGL2 and gpu.js runs on it, with the renderer on the page', async () => {
  const { env, envText, errors } = await open();
  assert.equal(errors, []);
  assert.ok(env, 'the page reported its environment');
  assert.is(env!.mode, 'webgl2', envText);
  assert.ok(env!.gl);
  assert.ok(env!.glInfo!.renderer.length > 0);
  assert.is(env!.glInfo!.floatPrecisionBits, 23, 'highp float is single precision');
  assert.match(envText, env!.glInfo!.renderer);
  console.log(`  [browser] ${envText}`);
});

it('verify passes in the page: alexnet-mini, every kernel and the training pass, on two gpu.js webgl2 contexts', async () => {
  const { page: p } = await open();
  const { outcome, verdict } = await page.verifyInPage(p, { network: 'alexnet-mini', kernels: true, seed: 3003 });
  if (!outcome.ok) console.log(outcome.text);
  assert.ok(outcome.ok, 'verdict PASS');
  assert.is(outcome.mode, 'webgl2');
  assert.is(verdict.ok, 'true');
  assert.match(verdict.text, /^PASS on gpu\.js webgl2 \(/);
  assert.match(outcome.text, /kernels of gpu:webgl2 \(gpu\.js tower 0 \(mode webgl2; /);
  assert.match(outcome.text, /B \(checked\): \[gpu\.js tower 0 \(mode webgl2\), gpu\.js tower 1 \(mode webgl2\)\]/);
  for (const k of ['conv2d', 'lrnGrad', 'sgdUpdate']) assert.match(outcome.text, new RegExp(`\\n  ${k} +\\d+ +[\\d.]+ +[\\d.]+  pass`));
  assert.match(outcome.text, /verdict: PASS \(22 kernel checks and the alexnet-mini training pass agree with reference/);
  console.log(`  [browser] ${verdict.text}`);
});

it('with ?gpu=webgpu gpu.js runs on WebGPU in the page, the adapter named, and verify passes: every kernel and the alexnet-mini training pass on two devices, a worker each', async () => {
  const { page: p, env, envText } = await open(browser, `${site!.url}?gpu=webgpu`) as unknown as { page: unknown; env: { api: string; webgpu: { available: boolean; reason: string | null; adapter: string | null } }; envText: string };
  assert.is(env.api, 'webgpu');
  assert.ok(env.webgpu.available, `no WebGPU in the page: ${env.webgpu.reason}`);
  assert.match(envText, /^gpu\.js runs on WebGPU: /);
  assert.ok(envText.includes(env.webgpu.adapter!), envText);
  const { outcome, verdict } = await page.verifyInPage(p, { network: 'alexnet-mini', kernels: true, seed: 3003 });
  if (!outcome.ok) console.log(outcome.text);
  assert.ok(outcome.ok, 'verdict PASS');
  assert.is(outcome.mode, 'webgpu');
  assert.match(verdict.text, /^PASS on gpu\.js webgpu \(/);
  assert.match(outcome.text, /kernels of gpu:webgpu \(gpu\.js tower 0 \(gpu\.js webgpu on .* in a worker of its own\)\)/);
  assert.match(outcome.text, /B \(checked\): \[gpu\.js tower 0 \(mode webgpu\), gpu\.js tower 1 \(mode webgpu\)\]/);
  assert.match(outcome.text, /verdict: PASS \(22 kernel checks and the alexnet-mini training pass agree with reference/);
  console.log(`  [browser, WebGPU] ${envText}; ${verdict.text}`);
});

it('verify passes in the page on one training pass of the full 227x227 AlexNet', async () => {
  const { page: p } = await open();
  const { outcome, verdict } = await page.verifyInPage(p, { network: 'alexnet', kernels: false, seed: 3003 });
  if (!outcome.ok) console.log(outcome.text);
  assert.ok(outcome.ok);
  assert.match(outcome.text, /network: alexnet, input \[2, 3, 227, 227\]/);
  assert.match(outcome.text, /\nfc6 +4096 /);
  assert.match(outcome.text, /verdict: PASS \(0 kernel checks and the alexnet training pass/);
  console.log(`  [browser] ${verdict.text}`);
});

it('with ?gl=webgl gpu.js runs on WebGL 1 in the page and verify passes there too (kernels at a quarter of the cases, alexnet-mini pass)', async () => {
  const { page: p, env, envText } = await open(browser, `${site!.url}?gl=webgl`);
  assert.is(env!.mode, 'webgl', envText);
  const { outcome, verdict } = await page.verifyInPage(p, { network: 'alexnet-mini', kernels: true, scale: '0.25', seed: 3003 });
  if (!outcome.ok) console.log(outcome.text);
  assert.ok(outcome.ok);
  assert.match(outcome.text, /kernels of gpu:webgl \(gpu\.js tower 0 \(mode webgl; /);
  console.log(`  [browser, WebGL 1] ${verdict.text}`);
});

it('a page built with a broken gpu.js kernel fails verify on that kernel', async () => {
  // LRN's exponent off by one: the kind of slip the kit exists to catch.
  const broken = await page.startPage({ patches: [{ file: 'backends/gpujs/kernels.ts', from: 'Math.pow(k + alpha * sum, -beta)', to: 'Math.pow(k + alpha * sum, -beta - 1)' }] });
  try {
    const { page: p } = await open(browser, `${broken.url}?kernels=lrn,relu`);
    const { outcome, verdict } = await page.verifyInPage(p, { network: 'none', kernels: true, seed: 3003 });
    assert.not.ok(outcome.ok);
    assert.is(verdict.ok, 'false');
    assert.match(outcome.text, /\n {2}lrn +\d+ .* FAIL/);
    assert.match(outcome.text, /\n {2}relu +\d+ .* pass/);
    assert.match(outcome.text, /verdict: FAIL \(gpu:webgl2 lrn\)/);
    // The same source is what WebGPU's shaders are made from: the page on WebGPU fails on it too.
    const { page: q } = await open(browser, `${broken.url}?gpu=webgpu&kernels=lrn,relu`);
    const onWebgpu = await page.verifyInPage(q, { network: 'none', kernels: true, seed: 3003 });
    assert.not.ok(onWebgpu.outcome.ok);
    assert.match(onWebgpu.outcome.text, /\n {2}lrn +\d+ .* FAIL/);
    assert.match(onWebgpu.outcome.text, /verdict: FAIL \(gpu:webgpu lrn\)/);
  } finally {
    broken.close();
  }
});

it('without WebGL the page says so and verify fails', async () => {
  const bare = (await page.launch(page.NO_WEBGL)) as Browser;
  try {
    const { page: p, env, envText } = await open(bare);
    assert.ok(env);
    assert.not.ok(env!.gl);
    assert.match(envText, /^No WebGL for gpu\.js here: webgl2: the browser gave no webgl2 context/);
    assert.match(envText, /gpu\.js would fall back to its (webasm|cpu) mode \(not the GPU\)\. Verify and bench report a failure\./);
    const { outcome, verdict } = await page.verifyInPage(p, { network: 'alexnet-mini', kernels: true });
    assert.not.ok(outcome.ok);
    assert.is(verdict.ok, 'false');
    assert.match(verdict.text, /^FAIL: no WebGL for gpu\.js in this browser/);
    console.log(`  [browser, no WebGL] ${verdict.text}`);
  } finally {
    await bare.close();
  }
});

it('classify in the page gives the top-5 of alexnet classify for the same checkpoint and image', async () => {
  // A short training run, so that the probabilities are far apart: alexnet-mini on Fashion-MNIST where installed.
  const fashion = hasIdxFiles(FASHION_MNIST_DIR);
  const out = join(dir, 'run');
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });
  const trained = cli(['train', '--data', fashion ? FASHION_MNIST_DIR : 'synthetic', '--train-limit', '1200', '--val', '100', '--batch', '50',
    '--epochs', '1', '--validate-every', '0', '--test-limit', '20', '--test-crops', '1', '--backend', 'cpu', '--out', out]);
  assert.is(trained.status, 0, trained.stderr);
  const checkpoint = join(out, 'checkpoint.safetensors');
  const ck = orThrow(decodeCheckpoint(readFileSync(checkpoint), checkpoint));
  const side = imageSideOf(ck);
  // The image: Fashion-MNIST's first test image, or seeded colours; at the network's side, so neither decoder resamples it.
  const png = new PNG({ width: side, height: side });
  const grey = fashion ? orThrow(readIdxFile(findIdx(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte')!, 3)).data.subarray(0, side * side) : null;
  for (let i = 0; i < side * side; i++) {
    for (let c = 0; c < 3; c++) png.data[4 * i + c] = grey ? grey[i] : (i * 37 + c * 91 + ((i * i) % 13) * 17) % 256;
    png.data[4 * i + 3] = 255;
  }
  const image = join(dir, 'image.png');
  writeFileSync(image, PNG.sync.write(png));

  const printed = cli(['classify', image, '--checkpoint', checkpoint, '--backend', 'reference']);
  assert.is(printed.status, 0, printed.stderr);
  const expected = printed.stdout.trim().split('\n').map((l) => { const m = /^(.*\S)\s+([\d.]+)%$/.exec(l)!; return { label: m[1], percent: Number(m[2]) }; });
  assert.is(expected.length, 5);

  const { page: p } = await open();
  const got = await page.classifyInPage(p, checkpoint, image);
  console.log(`  [browser] classify: ${got.top.map((t: { label: string; probability: number }) => `${t.label} ${(100 * t.probability).toFixed(2)}%`).join(', ')} on ${got.backend}`);
  assert.equal(got.top.map((t: { label: string }) => t.label), expected.map((e) => e.label), `page ${JSON.stringify(got.top)} against the CLI's\n${printed.stdout}`);
  got.top.forEach((t: { probability: number }, i: number) => assert.ok(Math.abs(100 * t.probability - expected[i].percent) <= 0.006, `${expected[i].label}: page ${100 * t.probability}%, CLI ${expected[i].percent}%`));
  assert.match(got.backend, /mode webgl2/);
  assert.ok(got.filters.width > 0 && got.filters.height > 0, 'the conv1 filters are drawn');
});

it('the bench in the page (quick plan) gives a valid record with ratios to TensorFlow.js webgl measured beside it', async () => {
  const { page: p } = await open();
  const b = await page.benchInPage(p, { quick: true });
  assert.equal(validateRecord(b.record), []);
  assert.ok(b.record.machine.key.startsWith('browser:'));
  const ids = b.record.subjects.map((s: { id: string }) => s.id);
  for (const id of ['browser-gpujs-1ctx', 'browser-gpujs-2ctx', 'browser-tfjs-webgl']) assert.ok(ids.includes(id), id);
  for (const s of b.record.subjects) {
    assert.ok(s.available, `${s.id}: ${s.reason}`);
    const failed = s.skipped.filter((k: { reason: string }) => /^failed/.test(k.reason));
    assert.equal(failed, [], `${s.id} failed part way`);
  }
  const inference = b.rows.find((r: { figure: string }) => r.figure === 'inference b1');
  assert.ok(inference, 'inference b1 measured');
  assert.ok(inference.ratios.every((r: number | null) => r !== null && r > 0), `ratios ${inference.ratios}`);
  const file = join(dir, 'record.json');
  writeFileSync(file, JSON.stringify(b.record));
  const history = join(dir, 'history.jsonl');
  copyFileSync('docs/performance.md', join(dir, 'performance.md'));
  const imported = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--report', '--import', file, '--history', history, '--report-dir', join(dir, 'report'), '--results', join(dir, 'RESULTS.md'), '--docs', join(dir, 'performance.md')], { encoding: 'utf8' });
  assert.is(imported.status, 0, imported.stderr);
  assert.ok(existsSync(history));
  assert.match(readFileSync(join(dir, 'performance.md'), 'utf8'), /<!-- bench:browser:start -->/);
  assert.match(readFileSync(join(dir, 'RESULTS.md'), 'utf8'), /In the browser/);
  console.log(`  [browser] bench: ${b.rows.map((r: { figure: string; values: (number | null)[] }) => `${r.figure} ${r.values.map((v) => v?.toPrecision(3) ?? '-').join('/')}`).join('; ')} img/s (${ids.join('/')})`);
});

test.run();
