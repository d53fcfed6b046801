// A CPU backend worker's entry. Worker threads do not inherit the TypeScript
// loader the main thread runs under, so this entry is plain JavaScript: it
// loads the compiled worker where there is one (the installed package), else
// registers tsx and loads the TypeScript worker, and if that fails writes why
// into the worker's shared message slot (see ./threads.ts) for the main thread
// to report.
import { workerData } from 'node:worker_threads';

const UNLOADABLE = 4; // as in ./threads.ts
const MESSAGE_BYTES = 2048; // as in ./threads.ts

try {
  // Beside the compiled package's worker.js; in the source tree, worker.ts through tsx.
  const compiled = new URL('./worker.js', import.meta.url);
  const { existsSync } = await import('node:fs');
  if (existsSync(compiled)) {
    await import(compiled.href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('./worker.ts');
  }
} catch (e) {
  const { status, messages, slot } = workerData;
  const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, MESSAGE_BYTES - 1);
  messages.fill(0, slot * MESSAGE_BYTES, (slot + 1) * MESSAGE_BYTES);
  messages.set(text, slot * MESSAGE_BYTES);
  Atomics.store(status, slot, UNLOADABLE);
  Atomics.notify(status, slot);
}
