// The entry of a tower's worker thread or process (./tower.ts). Neither
// inherits the TypeScript loader the caller runs under, so this entry is plain
// JavaScript: it loads the compiled tower where there is one (the installed
// package), else registers tsx and loads the TypeScript one; if that fails it
// answers the caller's first read with why.
import { existsSync } from 'node:fs';
import { isMainThread, workerData } from 'node:worker_threads';

try {
  const compiled = new URL('./tower.js', import.meta.url);
  if (existsSync(compiled)) {
    await import(compiled.href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('./tower.ts');
  }
} catch (e) {
  const answer = { ok: false, error: `the tower did not load: ${e instanceof Error ? e.message : String(e)}` };
  if (isMainThread) {
    process.send?.({ seq: 0, answer }, () => process.exit(1));
  } else {
    workerData.reply.postMessage({ seq: 0, answer });
    Atomics.add(workerData.counter, 0, 1);
    Atomics.notify(workerData.counter, 0);
  }
}
