// The thread of ./blocking.ts. A worker thread does not inherit the TypeScript
// loader the caller runs under, so this entry is plain JavaScript: it loads the
// compiled server where there is one (the installed package), else registers
// tsx and loads the TypeScript one; if that fails it answers with why.
import { existsSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

try {
  const compiled = new URL('./blocking-server.js', import.meta.url);
  if (existsSync(compiled)) {
    await import(compiled.href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('./blocking-server.ts');
  }
} catch (e) {
  workerData.reply.postMessage({ ok: false, error: `ONNX Runtime's thread did not load: ${e instanceof Error ? e.message : String(e)}` });
  Atomics.add(workerData.counter, 0, 1);
  Atomics.notify(workerData.counter, 0);
}
