/**
 * Towers in Node: a backend in a worker thread or a process of its own, behind
 * a `RemoteBackend` (./backend.ts). The caller posts commands to the worker
 * and, for a read, blocks on a shared counter until the answer is on its port
 * (`receiveMessageOnPort`). A process's tower is relayed by a worker thread
 * (./tower.ts).
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { RemoteBackend, type TowerTransport } from './backend.ts';
import type { Answer, BackendRecipe, Command } from './protocol.ts';
import type { TowerData } from './tower.ts';

export { RemoteBackend, type TowerTransport } from './backend.ts';

export interface TowerOptions {
  /**
   * 'thread': a worker thread of this process (shared memory between towers).
   * 'process': a process of its own, for backends that hold a per-process
   * resource: headless GL loads in one thread per process.
   */
  readonly in: 'thread' | 'process';
  /** Shown in errors and transfer logs (default: the backend's own name). */
  readonly name?: string;
  /** For 'process': variables added to its environment (LP_NUM_THREADS, say). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The Node transport: a worker thread that serves the tower, or relays to its process; answers on a port, counted in shared memory. */
class NodeTransport implements TowerTransport {
  private readonly worker: Worker;
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private readonly replies: MessagePort;
  private answered = 0;

  constructor(recipe: BackendRecipe, options: TowerOptions) {
    const { port1, port2 } = new MessageChannel();
    this.replies = port1;
    const workerData: TowerData = { role: options.in === 'process' ? 'relay' : 'serve', recipe, counter: this.counter, reply: port2, env: options.env };
    this.worker = new Worker(new URL('./entry.mjs', import.meta.url), { workerData, transferList: [port2] });
    this.worker.unref();
  }

  post(c: Command, transfer: (MessagePort | ArrayBuffer)[] = []): void { this.worker.postMessage(c, transfer); }

  next(deadlineMs: number, late: () => string): { seq: number; answer: Answer } {
    const until = Date.now() + deadlineMs;
    while (Atomics.load(this.counter, 0) === this.answered) {
      const left = until - Date.now();
      if (left <= 0 || Atomics.wait(this.counter, 0, this.answered, left) === 'timed-out') {
        return { seq: -1, answer: { ok: false, error: late() } };
      }
    }
    const got = receiveMessageOnPort(this.replies);
    this.answered++;
    return (got?.message as { seq: number; answer: Answer } | undefined) ?? { seq: -1, answer: { ok: false, error: 'internal: an answer was counted but none came' } };
  }

  close(): void {
    this.worker.postMessage({ op: 'close' } satisfies Command);
    this.replies.close();
    void this.worker.terminate();
  }
}

/** Starts a tower backend from a recipe, in a worker thread or a process of its own. */
export const createRemoteBackend = (recipe: BackendRecipe, options: TowerOptions): RemoteBackend =>
  new RemoteBackend(new NodeTransport(recipe, options), options.in === 'process' ? 'a process of its own' : 'a worker thread', options.name ?? recipe.factory, options.name);
