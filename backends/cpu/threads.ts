/**
 * Shares a kernel's batch between this thread and worker threads, one per
 * extra core: the caller runs the first share itself, each worker one of the
 * others, all on the same SharedArrayBuffer memory, and the call returns when
 * every share is done (Atomics.wait on a status word per worker). Kernels stay
 * synchronous for the caller, and the shares are fixed by the thread count, so
 * a given thread count always gives the same bits.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runTask, type TaskArgs, type TaskName } from './tasks.ts';

export const RUNNING = 0;
export const DONE = 1;
export const FAILED = 2;
/** A worker's status until its module has loaded, and if it could not load. */
export const LOADING = 3;
export const UNLOADABLE = 4;
/** Room for a worker's error message. */
export const MESSAGE_BYTES = 2048;
/** A share that takes longer than this is taken for a lost worker. */
const DEADLINE_MS = 30 * 60 * 1000;
/** A worker that has not loaded its module by then is taken for a broken one. */
const LOAD_DEADLINE_MS = 2 * 60 * 1000;

export interface WorkerShared {
  readonly status: Int32Array;
  readonly messages: Uint8Array;
}

/** What a worker is started with: the shared status and messages, and its own slot in them. */
export interface WorkerInit extends WorkerShared {
  readonly slot: number;
}

export interface WorkerMessage<K extends TaskName = TaskName> {
  readonly task: K;
  readonly args: TaskArgs[K];
  readonly lo: number;
  readonly hi: number;
  readonly share: number;
}

export const sharedF32 = (n: number): Float32Array => new Float32Array(new SharedArrayBuffer(n * 4));

/** [lo, hi) of share s when `total` items are split into `shares` near-equal runs. */
export const shareRange = (total: number, shares: number, s: number): [number, number] => [
  Math.floor((s * total) / shares),
  Math.floor(((s + 1) * total) / shares),
];

export class Threads {
  private readonly workers: Worker[];
  private readonly shared: WorkerShared;

  constructor(readonly count: number) {
    const extra = count - 1;
    this.shared = {
      status: new Int32Array(new SharedArrayBuffer(4 * Math.max(1, extra))),
      messages: new Uint8Array(new SharedArrayBuffer(MESSAGE_BYTES * Math.max(1, extra))),
    };
    this.shared.status.fill(LOADING);
    this.workers = Array.from({ length: extra }, (_, slot) => {
      const workerData: WorkerInit = { ...this.shared, slot };
      const w = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData });
      w.unref();
      return w;
    });
  }

  /** Blocks until worker `slot` has loaded; a worker that could not load is an error naming why. */
  private awaitLoaded(slot: number): void {
    const { status } = this.shared;
    if (Atomics.load(status, slot) === LOADING && Atomics.wait(status, slot, LOADING, LOAD_DEADLINE_MS) === 'timed-out') {
      throw new Error(`cpu backend: worker thread ${slot + 1} did not start in ${LOAD_DEADLINE_MS / 1000} s; run with ALEXNET_CPU_THREADS=1 to use one thread`);
    }
    if (Atomics.load(status, slot) === UNLOADABLE) {
      throw new Error(`cpu backend: worker thread ${slot + 1} could not start: ${this.message(slot)}; run with ALEXNET_CPU_THREADS=1 to use one thread`);
    }
  }

  private message(slot: number): string {
    const bytes = this.shared.messages.subarray(slot * MESSAGE_BYTES, (slot + 1) * MESSAGE_BYTES);
    const end = bytes.indexOf(0);
    return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('utf8');
  }

  /**
   * Runs `task` over [0, total) in `shares(total)` shares (at most one per
   * thread); share s writes only its own part of the outputs.
   */
  run<K extends TaskName>(task: K, args: TaskArgs[K], total: number, shares = this.sharesFor(total)): void {
    const { status } = this.shared;
    for (let s = 1; s < shares; s++) this.awaitLoaded(s - 1);
    for (let s = 1; s < shares; s++) {
      const [lo, hi] = shareRange(total, shares, s);
      Atomics.store(status, s - 1, RUNNING);
      const m: WorkerMessage<K> = { task, args, lo, hi, share: s };
      this.workers[s - 1].postMessage(m);
    }
    let failure: unknown = null;
    try {
      const [lo, hi] = shareRange(total, shares, 0);
      runTask(task, args, lo, hi, 0);
    } catch (e) {
      failure = e;
    }
    // Wait for every worker even when this thread's share failed: they write into the same outputs.
    for (let s = 1; s < shares; s++) {
      const slot = s - 1;
      if (Atomics.wait(status, slot, RUNNING, DEADLINE_MS) === 'timed-out') {
        throw new Error(`cpu backend: worker thread ${s} did not finish its share of ${task} in ${DEADLINE_MS / 60000} minutes; run with ALEXNET_CPU_THREADS=1 to use one thread`);
      }
      if (Atomics.load(status, slot) === FAILED && failure === null) {
        failure = new Error(`cpu backend, worker thread ${s}, ${task}: ${this.message(slot)}`);
      }
    }
    if (failure !== null) throw failure;
  }

  /** As many shares as threads, but none smaller than one item. */
  sharesFor(total: number): number {
    return Math.max(1, Math.min(this.count, total));
  }

  terminate(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * The thread count: ALEXNET_CPU_THREADS if set, else one per core, at most 8.
 * A bad value is an error that names the variable.
 */
export const defaultThreadCount = (): number => {
  const env = process.env.ALEXNET_CPU_THREADS;
  if (env === undefined || env === '') return Math.min(8, availableParallelism());
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`ALEXNET_CPU_THREADS=${env}: give a whole number of threads from 1 to 256`);
  return n;
};

/** One pool per thread count, shared by every CPU backend of the process. */
const pools = new Map<number, Threads>();
export const threadsFor = (count: number): Threads => {
  let t = pools.get(count);
  if (!t) pools.set(count, (t = new Threads(count)));
  return t;
};
