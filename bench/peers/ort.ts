/**
 * The ONNX Runtime peers: the project's network exported as ONNX
 * (core/onnx/export.ts, the same weights as every other subject) run by
 * `onnxruntime-node` (its CPU execution provider, MLAS kernels) or
 * `onnxruntime-web` (its wasm backend, SIMD and threads), inference only (ONNX
 * Runtime has no training in JavaScript). A thread per core: onnxruntime-node's
 * intra-op pool and onnxruntime-web's `env.wasm.numThreads` are both set to the
 * machine's cores (ALEXNET_ORT_THREADS sets them), and said in the detail.
 *
 * ONNX Runtime answers with promises and the bench worker measures
 * synchronously, so the session lives in a worker thread of its own
 * (./ort-worker.ts) and each call blocks until that thread answers, as the
 * PyTorch peer's calls block on its process. A pass is timed in that thread
 * around `session.run` alone, so the hand-over is not part of any figure.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { NetSpec } from '../../core/alexnet.ts';
import { exportOnnx } from '../../core/onnx/export.ts';
import type { Params } from '../../core/params.ts';
import { Tensor } from '../../core/tensor.ts';
import { loadOrt, type OrtProvider } from '../../backends/ort/index.ts';
import type { OrtCommand, OrtReply, OrtWorkerData } from './ort-worker.ts';

const WORKER = new URL('./ort-entry.mjs', import.meta.url);

export interface OrtPeerOptions {
  readonly threads: number;
  /** How long the thread may take to answer (loading the package and the model, a pass). */
  readonly timeoutMs?: number;
}

/** The threads a peer runs: ALEXNET_ORT_THREADS, else one per core. */
export const ortThreads = (): { threads: number; said: string } => {
  const env = process.env.ALEXNET_ORT_THREADS;
  if (env === undefined) return { threads: availableParallelism(), said: 'one per core (ALEXNET_ORT_THREADS sets them)' };
  const threads = Number(env);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`ALEXNET_ORT_THREADS=${env}: give a whole number of threads`);
  return { threads, said: `ALEXNET_ORT_THREADS=${env}` };
};

export class OrtPeer {
  private answered = 0;
  private constructor(
    private readonly worker: Worker,
    private readonly replies: MessagePort,
    private readonly counter: Int32Array,
    private readonly timeoutMs: number,
    readonly detail: string,
  ) {}

  /** Exports the network, starts the thread and waits until its session is made; a missing package throws its one line. */
  static async start(provider: OrtProvider, spec: NetSpec, params: Params, o: OrtPeerOptions): Promise<OrtPeer> {
    await loadOrt(provider); // the missing-package line, here rather than from the thread
    const model = exportOnnx(spec, params);
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const data: OrtWorkerData = { provider, threads: o.threads, model, counter, reply: port2 };
    const worker = new Worker(WORKER, { workerData: data, transferList: [port2, model.buffer as ArrayBuffer] });
    worker.unref();
    const timeoutMs = o.timeoutMs ?? 120_000;
    // The reply port never gets a listener (a started port hands its messages to the event loop,
    // not to receiveMessageOnPort): the first answer is awaited on the counter too.
    let error: Error | undefined;
    worker.once('error', (e) => { error = e; });
    const until = Date.now() + timeoutMs;
    while (Atomics.load(counter, 0) === 0 && !error && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    if (error) throw error;
    const ready: OrtReply = Atomics.load(counter, 0) === 0
      ? { ok: false, error: `no answer within ${timeoutMs / 1000} s` }
      : (receiveMessageOnPort(port1)?.message as OrtReply | undefined) ?? { ok: false, error: 'the thread answered with nothing' };
    if (!ready.ok) { await worker.terminate(); throw new Error(`ONNX Runtime (${provider}) did not start: ${ready.error}`); }
    const peer = new OrtPeer(worker, port1, counter, timeoutMs, provider === 'node'
      ? `ONNX Runtime ${ready.version} (onnxruntime-node, CPU execution provider), ${o.threads} intra-op thread${o.threads === 1 ? '' : 's'}`
      : `ONNX Runtime ${ready.version} (onnxruntime-web, wasm backend, SIMD), ${o.threads} thread${o.threads === 1 ? '' : 's'}`);
    peer.answered = 1;
    return peer;
  }

  /** Sends one command and blocks until the thread answers it. */
  private call(c: OrtCommand, transfer: ArrayBuffer[] = []): OrtReply & { ok: true } {
    this.worker.postMessage(c, transfer);
    const until = Date.now() + this.timeoutMs;
    while (Atomics.load(this.counter, 0) === this.answered) {
      const left = until - Date.now();
      if (left <= 0 || Atomics.wait(this.counter, 0, this.answered, left) === 'timed-out') throw new Error(`ONNX Runtime did not answer '${c.op}' within ${this.timeoutMs / 1000} s`);
    }
    this.answered++;
    const got = receiveMessageOnPort(this.replies);
    if (!got) throw new Error(`ONNX Runtime's thread answered '${c.op}' with nothing`);
    const r = got.message as OrtReply;
    if (!r.ok) throw new Error(`ONNX Runtime: ${r.error}`);
    return r;
  }

  /** Hands the thread a batch under `name`. */
  putBatch(name: string, x: Tensor): void {
    const data = Float32Array.from(x.data);
    this.call({ op: 'put', name, data, dims: x.shape }, [data.buffer]);
  }

  /** One forward pass of batch `name`; its milliseconds, timed around session.run. */
  inference(name: string): number {
    return this.call({ op: 'run', name, keep: false }).ms!;
  }

  /** The logits of batch `name`. */
  logits(name: string): Tensor {
    const l = this.call({ op: 'run', name, keep: true }).logits!;
    return Tensor.trusted(l.dims, l.data);
  }

  close(): void {
    void this.worker.terminate();
    this.replies.close();
  }
}
