/**
 * The ONNX Runtime peers: the project's network exported as ONNX
 * (core/onnx/export.ts, the same weights as every other subject) run by
 * `onnxruntime-node` (its CPU execution provider, MLAS kernels) or
 * `onnxruntime-web` (its wasm backend, SIMD and threads), inference only (ONNX
 * Runtime has no training in JavaScript). A thread per core: onnxruntime-node's
 * intra-op pool and onnxruntime-web's `env.wasm.numThreads` are both set to the
 * machine's cores (ALEXNET_ORT_THREADS sets them), and said in the detail.
 *
 * ONNX Runtime answers with promises, and the bench measures a run that is a
 * promise until it settles (bench/measure.ts): a pass is `await session.run`,
 * as ONNX Runtime's users run it, timed around that call alone.
 */
import { availableParallelism } from 'node:os';
import type { NetSpec } from '../../core/alexnet.ts';
import { exportOnnx } from '../../core/onnx/export.ts';
import type { Params } from '../../core/params.ts';
import { Tensor } from '../../core/tensor.ts';
import { loadOrt, type OrtModule, type OrtProvider, type OrtSession, type OrtTensor } from '../../backends/ort/index.ts';

export interface OrtPeerOptions {
  readonly threads: number;
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
  private readonly inputs = new Map<string, OrtTensor>();
  private constructor(private readonly ort: OrtModule, private readonly session: OrtSession, readonly detail: string) {}

  /** Exports the network and makes its session; a missing package throws its one line. */
  static async start(provider: OrtProvider, spec: NetSpec, params: Params, o: OrtPeerOptions): Promise<OrtPeer> {
    const ort = await loadOrt(provider);
    if (provider === 'wasm') ort.env.wasm.numThreads = o.threads;
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(exportOnnx(spec, params), provider === 'node'
        ? { executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1 }
        : { executionProviders: ['wasm'] });
    } catch (e) {
      throw new Error(`ONNX Runtime (${provider}) did not start: ${(e as Error).message.split('\n')[0]}`);
    }
    const version = ort.env.versions?.[provider === 'node' ? 'node' : 'web'] ?? '?';
    return new OrtPeer(ort, session, provider === 'node'
      ? `ONNX Runtime ${version} (onnxruntime-node, CPU execution provider), ${o.threads} intra-op thread${o.threads === 1 ? '' : 's'}`
      : `ONNX Runtime ${version} (onnxruntime-web, wasm backend, SIMD), ${o.threads} thread${o.threads === 1 ? '' : 's'}`);
  }

  /** Keeps a batch under `name`, as ONNX Runtime's input. */
  putBatch(name: string, x: Tensor): void {
    this.inputs.set(name, new this.ort.Tensor('float32', Float32Array.from(x.data), [...x.shape]));
  }

  private run(name: string): Promise<Record<string, OrtTensor>> {
    const input = this.inputs.get(name);
    if (!input) throw new Error(`internal: no batch '${name}'`);
    return this.session.run({ input });
  }

  /** One forward pass of batch `name`; its milliseconds, timed around session.run as its users await it. */
  async inference(name: string): Promise<number> {
    const t0 = performance.now();
    await this.run(name);
    return performance.now() - t0;
  }

  /** The logits of batch `name`. */
  async logits(name: string): Promise<Tensor> {
    const l = (await this.run(name)).logits;
    return Tensor.trusted(l.dims, Float32Array.from(l.data as Float32Array));
  }

  close(): void {
    void this.session.release();
  }
}
