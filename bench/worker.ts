/**
 * Measures one subject in a process of its own (so one subject's memory, GL
 * state, or crash never touches another's figures), with the sequence of
 * bench/measure.ts over the subject's driver (bench/drivers.ts, set up below
 * for Node; PyTorch's is here alone), and writes its `SubjectResult` as JSON
 * to the file the job names after every measurement. Progress goes to stderr.
 *
 *   node --import tsx bench/worker.ts JOB.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { alexnet, describe, type LayerInfo, type NetSpec } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { initParams, type Params } from '../core/params.ts';
import { readParamsFile } from './params-file.ts';
import { type Driver, measureSubject } from './measure.ts';
import { type Plan, subjectById, type SubjectId } from './plan.ts';
import type { SubjectResult } from './record.ts';

export interface Job {
  readonly subject: SubjectId;
  readonly plan: Plan;
  /** Where to write the result. */
  readonly out: string;
  /** The run's initial parameters (see params-file.ts); drawn here from the seed when absent. */
  readonly params?: string;
}

const main = async (): Promise<void> => {
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Job;
  const { plan } = job;
  const def = subjectById(job.subject);
  if (!def) throw new Error(`unknown subject '${job.subject}'`);
  if (def.where !== 'node') throw new Error(`${def.id} is measured by the page in a browser, not by a worker`);
  const spec = alexnet();
  const rows = orThrow(describe(spec));
  const finish = (r: SubjectResult) => writeFileSync(job.out, JSON.stringify(r));
  const params = () => (job.params ? readParamsFile(job.params, spec) : initParams(spec, plan.seed));
  const made = () => (def.kind === 'ours' ? oursDriver(def.id, spec, rows, plan, params)
    : def.id === 'pytorch' ? torchDriver(spec, plan, params)
    : def.id === 'ort-node' || def.id === 'ort-wasm' ? ortDriver(def.id === 'ort-node' ? 'node' : 'wasm', spec, plan, params)
    : peerDriver(def.id, spec, rows, plan, params));
  finish(await measureSubject(def, plan, made, {
    log: (line) => process.stderr.write(`  [${def.id}] ${line}\n`),
    partial: finish, // what is measured survives a worker stopped later
    debug: Boolean(process.env.ALEXNET_BENCH_DEBUG),
  }));
};

// ---- drivers ----------------------------------------------------------------------

// The driver bodies are bench/drivers.ts's, which the page uses too; here they get their Node set-up.
const oursDriver = async (id: SubjectId, spec: NetSpec, rows: readonly LayerInfo[], plan: Plan, loadParams: () => Params): Promise<Driver<unknown> | { reason: string }> => {
  const { makePlacement } = await import('./ours.ts');
  const made = await makePlacement(id);
  if ('reason' in made) return made;
  const { placementDriver } = await import('./drivers.ts');
  return placementDriver(spec, rows, plan, made.placement, made.detail, loadParams());
};

const peerDriver = async (id: SubjectId, spec: NetSpec, rows: readonly LayerInfo[], plan: Plan, loadParams: () => Params): Promise<Driver<unknown> | { reason: string }> => {
  const which = id === 'tfjs-webgl' ? 'webgl' : id === 'tfjs-webgpu' ? 'webgpu' : id === 'tfjs-wasm' ? 'wasm' : 'cpu';
  const { setupTfjs } = await import('./peers/tfjs.ts');
  let setup;
  try {
    setup = await setupTfjs(which);
  } catch (e) {
    return { reason: (e as Error).message.split('\n')[0] };
  }
  const { tfjsDriver } = await import('./drivers.ts');
  return tfjsDriver(spec, rows, plan, setup.detail, loadParams(), which === 'webgpu' ? 'awaited' : 'sync');
};

/**
 * PyTorch in a python process of its own (bench/peers/torch.ts): the same
 * weights and batches, handed over as safetensors files; masks for the timed
 * steps drawn in the process, inside the timed span, as the other subjects draw theirs.
 */
const torchDriver = async (spec: NetSpec, plan: Plan, loadParams: () => Params): Promise<Driver<unknown> | { reason: string }> => {
  const { findTorch, TorchPeer } = await import('./peers/torch.ts');
  const found = findTorch();
  if ('reason' in found) return found;
  const { availableParallelism } = await import('node:os');
  const env = process.env.ALEXNET_TORCH_THREADS;
  const threads = env ? Number(env) : availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`ALEXNET_TORCH_THREADS=${env}: give a whole number of threads`);
  const { batchOf } = await import('./ours.ts');
  const peer = TorchPeer.start(found, spec, loadParams(), { threads, seed: plan.seed, sgd: plan.sgd });
  const batch = (N: number): string => {
    const name = `b${N}`;
    const { x, labels } = batchOf(spec, N, plan.seed);
    return peer.putBatch(name, x, labels);
  };
  return {
    detail: `${peer.detail}; threads: ${env ? `ALEXNET_TORCH_THREADS=${env}` : 'one per core (ALEXNET_TORCH_THREADS sets them)'}`,
    inference: (N) => { const name = batch(N); return () => peer.inference(name); },
    training: (N) => {
      const name = batch(N);
      return () => {
        const { ms, loss } = peer.train(name);
        if (!Number.isFinite(loss)) throw new Error(`the training loss became ${loss}`);
        return ms;
      };
    },
    noProfile: 'not implemented for the PyTorch peer: its kernels run in a python process and the profile\'s per-kernel cases (bench/ours.ts, bench/peers/cases.ts) have no PyTorch counterpart; whole passes and training steps are measured',
    peak: () => {
      const n = 2048;
      const r = peer.sgemm(n, 5);
      return { gflops: r.gflops, what: `torch.mm ${n}x${n} float32 through ${r.blas}, ${r.threads} thread${r.threads === 1 ? '' : 's'}, median of 5` };
    },
    dispose: () => peer.close(),
  };
};

/**
 * ONNX Runtime on our exported network (bench/peers/ort.ts): the same weights
 * and batches, each pass `await session.run`, timed around that call.
 */
const ortDriver = async (provider: 'node' | 'wasm', spec: NetSpec, plan: Plan, loadParams: () => Params): Promise<Driver<unknown> | { reason: string }> => {
  const { OrtPeer, ortThreads } = await import('./peers/ort.ts');
  const { threads, said } = ortThreads();
  let peer;
  try {
    peer = await OrtPeer.start(provider, spec, loadParams(), { threads });
  } catch (e) {
    return { reason: (e as Error).message.split('\n')[0] };
  }
  const { batchOf } = await import('./ours.ts');
  const p = peer;
  return {
    detail: `${p.detail}; threads: ${said}; our network exported as ONNX (core/onnx/export.ts), timed around an awaited session.run`,
    inference: (N) => { const name = `b${N}`; p.putBatch(name, batchOf(spec, N, plan.seed).x); return () => p.inference(name); },
    training: () => { throw new Error('ONNX Runtime has no training in JavaScript'); },
    noProfile: 'not implemented for the ONNX Runtime peers: the whole network runs as one ONNX session, and the profile\'s per-kernel cases have no ONNX Runtime counterpart; whole passes are measured',
    dispose: () => p.close(),
  };
};

main().catch((e: unknown) => {
  process.stderr.write(`bench worker: ${(e as Error).message.split('\n')[0]}\n`);
  process.exit(1);
});
