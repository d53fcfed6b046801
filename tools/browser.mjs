// The page in headless Chromium, from the command line: what the browser
// tests use, and how the README's screenshot and browser bench figures are
// made. Debian's chromium (apt install chromium), driven by playwright-core;
// no browser is downloaded.
//
//   npm run web:headless -- verify [--network alexnet-mini|alexnet|none] [--kernels all|none|lrn,relu] [--scale 1] [--seed 3003] [--gpu webgpu]
//   npm run web:headless -- bench [--quick] [--record FILE]        then: npm run bench -- --report --import FILE
//   npm run web:headless -- screenshot FILE [--network alexnet-mini]
//
// Chromium starts with SwiftShader (WebGL2 in software) unless CHROMIUM_FLAGS
// replaces the flags, e.g. CHROMIUM_FLAGS='--use-gl=egl --enable-gpu' for a real GPU.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildWeb, serveWeb } from './web.mjs';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
/** Software WebGL2 (SwiftShader through ANGLE), which Chromium gives headless on a machine without a GPU. */
export const SWIFTSHADER = ['--enable-unsafe-swiftshader', '--use-angle=swiftshader', '--enable-unsafe-webgpu'];
/** No WebGL at all: what the page must report as a failure. */
export const NO_WEBGL = ['--disable-gpu', '--disable-software-rasterizer'];

/** The system Chromium, or why there is none. */
export const findChromium = () => {
  const env = process.env.CHROMIUM_PATH;
  if (env) return existsSync(env) ? { path: env } : { reason: `CHROMIUM_PATH=${env} does not exist` };
  const found = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  return found ? { path: found } : { reason: 'no Chromium on this machine: apt install chromium (Debian\'s package; no browser is downloaded)' };
};

/** Launches headless Chromium with `flags` (SwiftShader by default). */
export const launch = async (flags = process.env.CHROMIUM_FLAGS ? process.env.CHROMIUM_FLAGS.split(' ').filter(Boolean) : SWIFTSHADER) => {
  const c = findChromium();
  if (!c.path) throw new Error(c.reason);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: c.path, headless: true, args: ['--no-sandbox', ...flags] });
};

/** Builds the page (optionally with source patches) into a temporary folder and serves it on a free port. */
export const startPage = async ({ patches = [] } = {}) => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-web-'));
  await buildWeb({ out, quiet: true, patches });
  const { server, url } = await serveWeb({ dir: out, port: 0 });
  return { url, close: () => { server.close(); rmSync(out, { recursive: true, force: true }); } };
};

/** Opens the page and waits until it has probed WebGL; resolves to the page and what it found. */
export const openPage = async (browser, url, { log = () => {} } = {}) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') log(`console: ${m.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => window.alexnetPage && (window.alexnetPage.env || window.alexnetPage.errors.length), null, { timeout: 120_000 });
  const env = await page.evaluate(() => window.alexnetPage.env ?? null);
  const text = await page.textContent('#env');
  return { page, env, envText: text, errors };
};

/** Runs verify through the page's form; resolves to the page's VerifyOutcome and the verdict shown. */
export const verifyInPage = async (page, { network = 'alexnet-mini', kernels = true, scale = '1', seed = 3003, timeoutMs = 1_800_000, progress } = {}) => {
  await page.selectOption('#verify-form select[name=network]', network);
  await page.setChecked('#verify-form input[name=kernels]', kernels);
  await page.selectOption('#verify-form select[name=scale]', String(scale));
  await page.fill('#verify-form input[name=seed]', String(seed));
  await page.evaluate(() => { window.alexnetPage.verify = undefined; });
  await page.click('#verify-run');
  const timer = progress ? setInterval(async () => { try { progress(await page.textContent('#verify-progress span')); } catch { /* page closing */ } }, 15_000) : null;
  try {
    await page.waitForFunction(() => window.alexnetPage.verify, null, { timeout: timeoutMs, polling: 500 });
  } finally {
    if (timer) clearInterval(timer);
  }
  const outcome = await page.evaluate(() => window.alexnetPage.verify);
  const verdict = await page.evaluate(() => { const v = document.querySelector('#verify-verdict'); return { text: v.textContent, ok: v.dataset.ok, mode: v.dataset.mode, renderer: v.dataset.renderer }; });
  return { outcome, verdict };
};

/** Runs the page's bench; resolves to its BenchOutcome (record and table). */
export const benchInPage = async (page, { quick = false, timeoutMs = 3_600_000, progress } = {}) => {
  await page.selectOption('#bench-form select[name=plan]', quick ? 'quick' : 'full');
  await page.click('#bench-run');
  const timer = progress ? setInterval(async () => { try { progress(await page.textContent('#bench-progress span')); } catch { /* page closing */ } }, 20_000) : null;
  try {
    await page.waitForFunction(() => window.alexnetPage.bench || (!window.alexnetPage.busy && window.alexnetPage.errors.length), null, { timeout: timeoutMs, polling: 1000 });
  } finally {
    if (timer) clearInterval(timer);
  }
  const r = await page.evaluate(() => ({ bench: window.alexnetPage.bench ?? null, errors: window.alexnetPage.errors }));
  if (!r.bench) throw new Error(`the page's bench stopped: ${r.errors.join('; ')}`);
  return r.bench;
};

/** Loads a checkpoint and an image through the page's file pickers; resolves to the page's ClassifyOutcome. */
export const classifyInPage = async (page, checkpointPath, imagePath, { crops = 10, timeoutMs = 600_000 } = {}) => {
  await page.selectOption('#classify-form select[name=crops]', String(crops));
  await page.evaluate(() => { window.alexnetPage.classify = undefined; window.alexnetPage.errors = []; });
  await page.setInputFiles('#image-file', imagePath);
  await page.setInputFiles('#checkpoint-file', checkpointPath);
  await page.waitForFunction(() => (window.alexnetPage.classify && window.alexnetPage.classify.top) || window.alexnetPage.errors.length, null, { timeout: timeoutMs, polling: 250 });
  const r = await page.evaluate(() => ({ classify: window.alexnetPage.classify ?? null, errors: window.alexnetPage.errors }));
  if (!r.classify?.top) throw new Error(`the page could not classify: ${r.errors.join('; ')}`);
  return r.classify;
};

const main = async () => {
  const [cmd, ...rest] = process.argv.slice(2);
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { network: { type: 'string' }, kernels: { type: 'string' }, gpu: { type: 'string' }, scale: { type: 'string' }, seed: { type: 'string' }, quick: { type: 'boolean' }, record: { type: 'string' } },
    }));
  } catch (e) {
    console.error(`web:headless: ${e.message.split('\n')[0]}`);
    return 2;
  }
  if (!['verify', 'bench', 'screenshot'].includes(cmd)) {
    console.error('usage: npm run web:headless -- verify|bench|screenshot [options] (see tools/browser.mjs)');
    return 2;
  }
  const site = await startPage();
  const browser = await launch();
  try {
    // --gpu webgpu: gpu.js on the browser's WebGPU (?gpu=webgpu) instead of WebGL.
    const query = new URLSearchParams(values.gpu === 'webgpu' ? { gpu: 'webgpu' } : {});
    const at = (extra = {}) => { const q = new URLSearchParams([...query, ...Object.entries(extra)]); return `${site.url}${q.size ? `?${q}` : ''}`; };
    const { page, env, envText } = await openPage(browser, at(), { log: (l) => console.error(l) });
    console.log(`page: ${envText}`);
    if (cmd === 'bench') {
      const b = await benchInPage(page, { quick: values.quick, progress: (l) => console.error(`  ${l}`) });
      const file = resolve(values.record ?? `bench-browser-${b.record.date.slice(0, 19).replace(/[:T]/g, '-')}.json`);
      writeFileSync(file, `${JSON.stringify(b.record)}\n`);
      for (const row of b.rows) console.log(`${row.figure.padEnd(14)} ${row.values.map((v) => (v === null ? '-' : v.toPrecision(3))).join('  ')}   ratios ${row.ratios.map((r) => (r === null ? '-' : `${r.toFixed(2)}x`)).join('  ')}`);
      console.log(`columns: ${b.columns.map((c) => c.id).join(', ')}; ratios: ${b.ratios.map((r) => r.label).join(', ')}`);
      console.log(`wrote ${file}; npm run bench -- --report --import ${file} adds it to the history`);
      return 0;
    }
    if (values.gpu !== 'webgpu' && !env?.gl) { console.error('the page found no WebGL for gpu.js'); }
    const kernels = values.kernels ?? 'all';
    if (kernels !== 'all' && kernels !== 'none') {
      await page.goto(at({ kernels }));
      await page.waitForFunction(() => window.alexnetPage.env || window.alexnetPage.errors.length);
    }
    const { outcome } = await verifyInPage(page, { network: values.network ?? 'alexnet-mini', kernels: kernels !== 'none', scale: values.scale ?? '1', seed: Number(values.seed ?? 3003), progress: (l) => console.error(`  ${l}`) });
    if (cmd === 'screenshot') {
      const file = resolve(positionals[0] ?? 'page.png');
      await page.screenshot({ path: file, fullPage: false });
      console.log(`wrote ${file}`);
    } else {
      console.log(outcome.text);
    }
    return outcome.ok ? 0 : 1;
  } finally {
    await browser.close();
    site.close();
  }
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => { process.exitCode = code; }, (e) => { console.error(`web:headless: ${e.message.split('\n')[0]}`); process.exitCode = 1; });
}
