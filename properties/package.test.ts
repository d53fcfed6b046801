/**
 * The package as a user gets it: `npm pack` (which builds dist/), the tarball
 * installed into an empty folder offline from the npm cache that `npm ci`
 * filled, then, in plain `node` with no tsx and no TypeScript: every
 * documented entry point imports; alexnet-mini runs a forward and backward
 * pass on the reference and the cpu backends; the installed bin runs `info`,
 * `--help` and a short `train` whose checkpoint the package reads back; the
 * README's JavaScript example runs and its TypeScript example type-checks
 * against the installed declarations.
 *
 * The install skips install scripts (--ignore-scripts): gpu.js's optional
 * `gl` would otherwise rebuild from source (minutes); GL is tested in the
 * repository's own properties.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repo = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'alexnet-package-'));
const app = join(dir, 'app');

const sh = (cmd: string, args: string[], cwd: string, timeout = 300_000) => {
  // As a user's shell runs it: no loader, and no colours (the test runner forces them on).
  const { FORCE_COLOR: _colour, ...env } = process.env;
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...env, NODE_OPTIONS: '', NO_COLOR: '1' } });
  return { ...r, out: `${r.stdout}\n${r.stderr}` };
};
const ok = (r: ReturnType<typeof sh>, what: string) => assert.is(r.status, 0, `${what} failed:\n${r.out.slice(-3000)}`);

/** The README's code block of `lang` under "Use it from your project". */
const readmeExample = (lang: 'js' | 'ts'): string => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it from your project'));
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section.slice(0, section.indexOf('\n## ', 5)));
  if (!m) throw new Error(`README's "Use it from your project" has no \`\`\`${lang} block`);
  return m[1];
};

/**
 * A lockfile for the app that pins alexnet-ts to the tarball and every one of
 * its dependencies to what the repository's own lockfile resolved (so the
 * install needs nothing beyond the npm cache).
 */
const appLock = (tarball: string): object => {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
  const root = lock.packages[''];
  const packages: Record<string, unknown> = {
    '': { name: 'app', version: '1.0.0', dependencies: { 'alexnet-ts': `file:${tarball}` } },
    'node_modules/alexnet-ts': {
      version: root.version, resolved: `file:${tarball}`, license: root.license,
      dependencies: root.dependencies, peerDependencies: root.peerDependencies, peerDependenciesMeta: root.peerDependenciesMeta,
      bin: root.bin, engines: root.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages as Record<string, { dev?: boolean; peer?: boolean }>)) {
    if (path !== '' && !entry.dev && !entry.peer) packages[path] = entry;
  }
  return { name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
};

test('npm pack, then an offline install of the tarball into an empty project', () => {
  const t0 = Date.now();
  const pack = sh('npm', ['pack', '--pack-destination', dir, '--silent'], repo);
  ok(pack, 'npm pack');
  const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  const listing = sh('tar', ['tzf', tarball], dir);
  for (const f of ['package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/cli/alexnet.js', 'package/dist/backends/cpu/worker-entry.mjs', 'package/dist/backends/remote/entry.mjs', 'package/dist/backends/cpu/gemm.wasm.js', 'package/LICENSE']) {
    assert.ok(listing.stdout.includes(f), `the tarball holds ${f}`);
  }
  assert.not.ok(/\.test\.|package\/bench\/|package\/properties\/[a-z-]+\.ts/.test(listing.stdout), 'no tests or bench in the tarball');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', dependencies: { 'alexnet-ts': `file:${tarball}` } }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(tarball), null, 2));
  ok(sh('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app), 'npm ci --offline');
  console.log(`  packed and installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
});

test('plain node imports every entry point and runs alexnet-mini forward and backward on the reference and cpu backends, and on two cpu towers side by side', () => {
  writeFileSync(join(app, 'all.mjs'), `
import * as root from 'alexnet-ts';
import { createReferenceBackend } from 'alexnet-ts/reference';
import { createCpuBackend } from 'alexnet-ts/cpu';
import * as gpujs from 'alexnet-ts/gpujs';
import * as tfjs from 'alexnet-ts/tfjs';
import * as verify from 'alexnet-ts/verify';
import * as data from 'alexnet-ts/data';
import * as train from 'alexnet-ts/train';
import { cpuTowers } from 'alexnet-ts/towers';
const { alexnetMini, initParams, Network, orThrow, Tensor, Rng } = root;
for (const [name, m, key] of [['gpujs', gpujs, 'createGpuBackend'], ['tfjs', tfjs, 'createTfjsBackend'], ['verify', verify, 'verifyKernels'], ['data', data, 'synthetic'], ['train', train, 'train']]) {
  if (typeof m[key] !== 'function') throw new Error(name + ' lacks ' + key);
}
const spec = alexnetMini();
const params = initParams(spec, 3);
const rng = new Rng(4);
const x = orThrow(Tensor.of([2, ...spec.input], Float32Array.from({ length: 2 * 28 * 28 }, () => rng.normal())));
const labels = Int32Array.of(1, 2);
const towers = cpuTowers({ threads: 1 });
const results = [[createReferenceBackend()], [createCpuBackend({ threads: 2 })], towers].map((placement) => {
  const g = orThrow(Network.create(spec, params, placement)).gradients(x, labels);
  return { name: placement.map((b) => b.name).join(' + '), loss: g.loss, grads: g.grads.size };
});
for (const t of towers) t.close();
console.log(JSON.stringify(results));
`);
  const r = sh(process.execPath, ['all.mjs'], app);
  ok(r, 'node all.mjs');
  const [a, b, c] = JSON.parse(r.stdout.trim().split('\n').pop()!) as { name: string; loss: number; grads: number }[];
  for (const x of [a, b, c]) assert.is(x.grads, 16, `${x.name}: gradients`);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * a.loss, `losses ${a.loss} (reference) and ${b.loss} (cpu) agree`);
  assert.ok(Math.abs(a.loss - c.loss) < 1e-5 * a.loss, `losses ${a.loss} (reference) and ${c.loss} (cpu towers side by side, ${c.name}) agree`);
});

test('the installed bin: info, --help, and a short train whose checkpoint the package reads back', () => {
  const npx = (...args: string[]) => sh('npx', ['--offline', 'alexnet', ...args], app);
  const info = npx('info', '--model', 'alexnet');
  ok(info, 'npx alexnet info');
  assert.match(info.stdout, '60,965,224');
  const help = npx('--help');
  ok(help, 'npx alexnet --help');
  assert.match(help.stdout, 'verify');
  const out = join(dir, 'run');
  const t = npx('train', '--data', 'synthetic', '--train-limit', '120', '--val', '20', '--batch', '20', '--validate-every', '3', '--epochs', '1', '--test-limit', '20', '--test-crops', '1', '--backend', 'cpu', '--out', out);
  ok(t, 'npx alexnet train');
  writeFileSync(join(app, 'read.mjs'), `
import { loadCheckpoint, orThrow } from 'alexnet-ts';
const c = orThrow(loadCheckpoint(${JSON.stringify(join(out, 'checkpoint.safetensors'))}, 'alexnet-mini'));
console.log(c.spec.name, c.params.size, c.state.step);
`);
  const read = sh(process.execPath, ['read.mjs'], app);
  ok(read, 'node read.mjs');
  assert.match(read.stdout, /^alexnet-mini 16 \d+/m, read.out);
});

test("README's JavaScript example runs in plain node and its TypeScript example type-checks against the installed types", () => {
  writeFileSync(join(app, 'example.mjs'), readmeExample('js'));
  const r = sh(process.execPath, ['example.mjs'], app);
  ok(r, 'the README JavaScript example');
  const [analytic, numeric] = r.stdout.trim().split('\n')[0].split(/\s+/).map(Number);
  assert.ok(Math.abs(analytic - numeric) <= 1e-6 * Math.abs(analytic) + 1e-10, `gradient ${analytic} against finite differences ${numeric}: ${r.out}`);
  assert.ok(Number.isFinite(Number(r.stdout.trim().split('\n')[1])), 'a training step gives a finite loss');

  writeFileSync(join(app, 'example.ts'), readmeExample('ts'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(repo, 'node_modules/@types')] },
    files: ['example.ts'],
  }));
  ok(sh(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app), 'tsc on the README TypeScript example');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
