/**
 * Assembles gemm.wat into gemm.wasm.ts (the module's bytes as base64, so the
 * backend instantiates it synchronously with no build step at install time).
 *
 *   npx tsx backends/cpu/build-wasm.ts          # rewrite gemm.wasm.ts
 *   npx tsx backends/cpu/build-wasm.ts --check  # exit 1 if gemm.wasm.ts is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

export const assemble = async (): Promise<string> => {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('gemm.wat', readFileSync(here('./gemm.wat'), 'utf8'), { simd: true });
  mod.validate();
  const { buffer } = mod.toBinary({});
  mod.destroy();
  const b64 = Buffer.from(buffer).toString('base64');
  return [
    '// Generated from gemm.wat by build-wasm.ts; do not edit by hand.',
    `export const GEMM_WASM_BASE64 = '${b64}';`,
    '',
  ].join('\n');
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await assemble();
  const target = here('./gemm.wasm.ts');
  if (process.argv.includes('--check')) {
    const same = readFileSync(target, 'utf8') === text;
    console.log(same ? 'gemm.wasm.ts is up to date' : 'gemm.wasm.ts is stale: run npx tsx backends/cpu/build-wasm.ts');
    process.exitCode = same ? 0 : 1;
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
