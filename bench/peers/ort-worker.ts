/**
 * The ONNX Runtime peer's thread (see ./ort.ts): holds one InferenceSession of
 * the exported network and answers the bench worker's commands, each reply on
 * the reply port followed by a bump of the shared counter the caller waits on.
 * A pass is timed here, around `session.run` alone.
 */
import { performance } from 'node:perf_hooks';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { loadOrt, type OrtProvider, type OrtTensor } from '../../backends/ort/index.ts';

export interface OrtWorkerData {
  readonly provider: OrtProvider;
  readonly threads: number;
  readonly model: Uint8Array;
  readonly counter: Int32Array;
  readonly reply: MessagePort;
}

export type OrtCommand =
  | { readonly op: 'put'; readonly name: string; readonly data: Float32Array; readonly dims: readonly number[] }
  | { readonly op: 'run'; readonly name: string; readonly keep: boolean };

export type OrtReply =
  | { readonly ok: true; readonly ms?: number; readonly logits?: { data: Float32Array; dims: readonly number[] }; readonly version?: string }
  | { readonly ok: false; readonly error: string };

const d = workerData as OrtWorkerData;
const answer = (r: OrtReply, transfer: ArrayBuffer[] = []): void => {
  d.reply.postMessage(r, transfer);
  Atomics.add(d.counter, 0, 1);
  Atomics.notify(d.counter, 0);
};
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

const main = async () => {
  const ort = await loadOrt(d.provider);
  if (d.provider === 'wasm') ort.env.wasm.numThreads = d.threads;
  const session = await ort.InferenceSession.create(d.model, d.provider === 'node'
    ? { executionProviders: ['cpu'], intraOpNumThreads: d.threads, interOpNumThreads: 1 }
    : { executionProviders: ['wasm'] });
  const inputs = new Map<string, OrtTensor>();
  answer({ ok: true, version: ort.env.versions?.[d.provider === 'node' ? 'node' : 'web'] ?? '?' });
  // One command at a time: the caller blocks until each is answered.
  parentPort!.on('message', async (c: OrtCommand) => {
    try {
      if (c.op === 'put') {
        inputs.set(c.name, new ort.Tensor('float32', c.data, c.dims));
        answer({ ok: true });
      } else {
        const t0 = performance.now();
        const out = await session.run({ input: inputs.get(c.name)! });
        const ms = performance.now() - t0;
        const logits = out.logits;
        if (!c.keep) { answer({ ok: true, ms }); return; }
        const data = Float32Array.from(logits.data as Float32Array);
        answer({ ok: true, ms, logits: { data, dims: [...logits.dims] } }, [data.buffer]);
      }
    } catch (e) {
      answer({ ok: false, error: message(e) });
    }
  });
};

main().catch((e: unknown) => answer({ ok: false, error: message(e) }));
