// `npm run web`: builds the page (web/) with esbuild into dist-web/ and serves
// it on localhost, printing the URL. The page runs the project's own core/,
// reference/, backends/gpujs/ and conformance kit in the browser; where a
// module touches Node, a sibling `<name>.browser.ts` takes its place in this
// build (gl-host.browser.ts makes WebGL2 contexts instead of headless-gl
// ones; sha256.browser.ts hashes without node:crypto).
//
//   npm run web                       build and serve on http://127.0.0.1:8227/
//   npm run web -- --port 0           any free port
//   npm run web -- --build-only       build dist-web/ and exit
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const DEFAULT_OUT = join(ROOT, 'dist-web');
export const DEFAULT_PORT = 8227;

/** Node modules gpu.js reaches for only in Node (it probes them in try/catch), and Dawn (the page has the browser's navigator.gpu); empty in the page. */
const EMPTY_IN_BROWSER = ['gl', 'os', 'worker_threads', 'webgpu'];

/** Node built-ins the page's modules import for their file functions only, which the page never calls. */
const FILE_ONLY = ['node:fs', 'node:path', 'node:url', 'fs', 'path'];

const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};

export const browserPlugin = {
  name: 'alexnet-browser',
  setup(build) {
    // gpu.js's sources, not its prebuilt browser bundle: device.ts reaches two
    // of its texture classes by path, and they must be the classes the
    // kernels use.
    const gpujs = require.resolve('gpu.js');
    build.onResolve({ filter: /^gpu\.js$/ }, () => ({ path: gpujs }));
    build.onResolve({ filter: new RegExp(`^(${EMPTY_IN_BROWSER.join('|')})$`) }, (a) => ({ path: a.path, namespace: 'empty' }));
    build.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    build.onResolve({ filter: new RegExp(`^(${FILE_ONLY.join('|')})$`) }, (a) => ({ path: a.path, namespace: 'no-files' }));
    build.onLoad({ filter: /.*/, namespace: 'no-files' }, (a) => ({
      contents: `const no = (name) => () => { throw new Error(name + ': there is no file system in the browser; use the CLI for files'); };
export const existsSync = () => false;
export const readFileSync = no('readFileSync'), writeFileSync = no('writeFileSync'), openSync = no('openSync'), closeSync = no('closeSync'),
  fsyncSync = no('fsyncSync'), renameSync = no('renameSync'), unlinkSync = no('unlinkSync'), writeSync = no('writeSync'),
  readdirSync = no('readdirSync'), statSync = no('statSync'), mkdirSync = no('mkdirSync'), appendFileSync = no('appendFileSync');
export const join = (...p) => p.join('/'), dirname = (p) => p.replace(/\\/[^/]*$/, ''), extname = (p) => (/\\.[^./]*$/.exec(p) || [''])[0],
  isAbsolute = (p) => p.startsWith('/'), resolve = join, relative = (a, b) => b, sep = '/';
export const fileURLToPath = (u) => new URL(String(u)).pathname, pathToFileURL = (p) => new URL('file://' + p);
export default { existsSync, readFileSync, join, dirname, extname, sep };`,
      loader: 'js',
    }));
    // `x.ts` -> `x.browser.ts` where the sibling exists.
    build.onResolve({ filter: /\.ts$/ }, (a) => {
      if (a.namespace !== 'file' || !a.path.startsWith('.')) return undefined;
      const target = resolve(a.resolveDir, a.path);
      const swap = target.replace(/\.ts$/, '.browser.ts');
      return existsSync(swap) ? { path: swap } : undefined;
    });
  },
};

/**
 * Text replacements in the sources as they are bundled, for checking that the
 * browser tests catch a broken kernel: `{ file: 'backends/gpujs/kernels.ts',
 * from, to }`. A `from` that is not in the file fails the build.
 */
const patchPlugin = (patches) => ({
  name: 'alexnet-patch',
  setup(build) {
    for (const p of patches) {
      const file = resolve(ROOT, p.file);
      build.onLoad({ filter: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }, () => {
        const text = readFileSync(file, 'utf8');
        if (!text.includes(p.from)) throw new Error(`patch: '${p.from}' is not in ${p.file}`);
        return { contents: text.split(p.from).join(p.to), loader: 'ts' };
      });
    }
  },
});

/** Builds the page into `out`; returns what it wrote. */
export const buildWeb = async ({ out = DEFAULT_OUT, minify = false, quiet = false, patches = [] } = {}) => {
  const esbuild = await import('esbuild');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const commit = git('rev-parse', '--short=12', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const result = await esbuild.build({
    entryPoints: { main: join(ROOT, 'web/main.ts'), worker: join(ROOT, 'web/worker.ts'), tower: join(ROOT, 'web/tower.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify,
    logLevel: quiet ? 'error' : 'warning',
    define: {
      __ALEXNET_COMMIT__: JSON.stringify(commit),
      __ALEXNET_DIRTY__: JSON.stringify(dirty),
      __ALEXNET_BUILT__: JSON.stringify(new Date().toISOString()),
      'process.env.NODE_ENV': '"production"',
    },
    plugins: [patchPlugin(patches), browserPlugin],
    metafile: true,
  });
  writeFileSync(join(out, 'index.html'), readFileSync(join(ROOT, 'web/index.html')));
  writeFileSync(join(out, 'style.css'), readFileSync(join(ROOT, 'web/style.css')));
  return { out, commit, dirty, files: Object.keys(result.metafile.outputs) };
};

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.wasm': 'application/wasm' };

/** Serves `dir` on `host:port` (0: any free port); resolves to the server and its URL. */
export const serveWeb = ({ dir = DEFAULT_OUT, port = DEFAULT_PORT, host = '127.0.0.1' } = {}) => new Promise((ok, bad) => {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!(file === root || file.startsWith(root + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`not found: ${path}`);
      return;
    }
    // Cross-origin isolated, so that the page's worker may block on a tower's answer in shared memory (web/mailbox.ts).
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.end(readFileSync(file));
  });
  server.once('error', bad);
  server.listen(port, host, () => {
    const a = server.address();
    ok({ server, url: `http://${host}:${a.port}/` });
  });
});

const main = async () => {
  let values;
  try {
    ({ values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, 'build-only': { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    console.error(`web: ${e.message.split('\n')[0]}; see npm run web -- --help`);
    return 2;
  }
  if (values.help) {
    console.log('usage: npm run web -- [--port N (default 8227; 0 for any)] [--host H (default 127.0.0.1)] [--build-only] [--out DIR]');
    return 0;
  }
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`web: --port takes a port number 0-65535, got '${values.port}'`);
    return 2;
  }
  const out = values.out ? resolve(values.out) : DEFAULT_OUT;
  const t0 = performance.now();
  const built = await buildWeb({ out, minify: true });
  console.log(`web: built ${built.out} (commit ${built.commit}${built.dirty ? ', with uncommitted changes' : ''}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (values['build-only']) return 0;
  try {
    const { url } = await serveWeb({ dir: out, port, host: values.host ?? '127.0.0.1' });
    console.log(`web: serving the page at ${url}  (Ctrl-C stops)`);
  } catch (e) {
    console.error(`web: cannot listen on port ${port} (${e.code ?? e.message}); pick another with --port N, or --port 0 for any free one`);
    return 2;
  }
  return null;
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => { if (code !== null) process.exitCode = code; }, (e) => { console.error(`web: ${e.message}`); process.exitCode = 1; });
}
