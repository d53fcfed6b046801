/**
 * A CPU backend worker thread: runs the shares of kernels it is sent (see
 * ./threads.ts) and reports each one in its status word.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTask } from './tasks.ts';
import { DONE, FAILED, MESSAGE_BYTES, type WorkerInit, type WorkerMessage } from './threads.ts';

const { status, messages, slot } = workerData as WorkerInit;

parentPort!.on('message', (m: WorkerMessage) => {
  try {
    runTask(m.task, m.args, m.lo, m.hi, m.share);
    Atomics.store(status, slot, DONE);
  } catch (e) {
    const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, MESSAGE_BYTES - 1);
    messages.fill(0, slot * MESSAGE_BYTES, (slot + 1) * MESSAGE_BYTES);
    messages.set(text, slot * MESSAGE_BYTES);
    Atomics.store(status, slot, FAILED);
  }
  Atomics.notify(status, slot);
});

// Loaded: ready for shares.
Atomics.store(status, slot, DONE);
Atomics.notify(status, slot);
