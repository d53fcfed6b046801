// `npm run build`: compiles the package's sources to ESM JavaScript with
// declarations and source maps in dist/ (tsconfig.build.json; relative .ts
// imports become .js), then adds what the compiler does not carry: the cpu
// backend's and the towers' plain-JavaScript worker entries, ONNX's schema (core/onnx/onnx.proto),
// and a node shebang on the bin.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = new URL('../', import.meta.url);
const at = (p) => new URL(p, root);

rmSync(at('dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
copyFileSync(at('backends/cpu/worker-entry.mjs'), at('dist/backends/cpu/worker-entry.mjs'));
copyFileSync(at('backends/remote/entry.mjs'), at('dist/backends/remote/entry.mjs'));
copyFileSync(at('core/onnx/onnx.proto'), at('dist/core/onnx/onnx.proto'));
const bin = at('dist/cli/alexnet.js');
writeFileSync(bin, readFileSync(bin, 'utf8').replace(/^#!.*\n/, '#!/usr/bin/env node\n'));
chmodSync(bin, 0o755);
console.log('built dist/');
