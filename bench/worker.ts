/**
 * Measures one subject in a process of its own (so one subject's memory, GL
 * state, or crash never touches another's figures) and writes its
 * `SubjectResult` as JSON to the file the job names. Progress goes to stderr.
 *
 *   node --import tsx bench/worker.ts JOB.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { alexnet, describe, type LayerInfo, type NetSpec } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { dropoutMasks } from '../core/net.ts';
import { initParams, type Params } from '../core/params.ts';
import { readParamsFile } from './params-file.ts';
import { Rng } from '../core/rng.ts';
import { batchesFor, type Plan, subjectById, type SubjectId } from './plan.ts';
import { type LayerCases, profile, type Syncer } from './profile.ts';
import type { Profile, Skipped, SubjectResult, Throughput, ThroughputKind } from './record.ts';
import { invert, now, summarise, timeRuns } from './stats.ts';

export interface Job {
  readonly subject: SubjectId;
  readonly plan: Plan;
  /** Where to write the result. */
  readonly out: string;
  /** The run's initial parameters (see params-file.ts); drawn here from the seed when absent. */
  readonly params?: string;
}

const secs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/**
 * What a subject provides to the common measuring code. A run returns its own
 * milliseconds when the subject times its work itself (the PyTorch peer, whose
 * work runs in another process); otherwise the whole call is timed.
 */
interface Driver<H> {
  readonly detail: string;
  inference(N: number): () => number | void;
  training(N: number): () => number | void;
  /** Absent for a subject without a per-layer profile; `noProfile` says why. */
  profileLayers?(N: number, backward: boolean): { layers: LayerCases<H>[]; syncer: Syncer<H> };
  readonly noProfile?: string;
  dispose(): void;
}

const main = async (): Promise<void> => {
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Job;
  const { plan } = job;
  const def = subjectById(job.subject);
  if (!def) throw new Error(`unknown subject '${job.subject}'`);
  const log = (line: string) => process.stderr.write(`  [${def.id}] ${line}\n`);
  const started = now();
  const spec = alexnet();
  const rows = orThrow(describe(spec));
  const batches = batchesFor(plan, def);
  const throughput: Throughput[] = [];
  const skipped: Skipped[] = [];
  let prof: Profile | undefined;
  let detail: string | undefined;

  const result = (available: boolean, reason?: string): SubjectResult => ({
    id: def.id, label: def.label, kind: def.kind, available, reason, detail,
    throughput, profile: prof, skipped, wallSeconds: (now() - started) / 1000,
  });
  const finish = (r: SubjectResult) => writeFileSync(job.out, JSON.stringify(r));

  let driver: Driver<unknown>;
  try {
    const params = () => (job.params ? readParamsFile(job.params, spec) : initParams(spec, plan.seed));
    const made = def.kind === 'ours' ? await oursDriver(def.id, spec, rows, plan, params)
      : def.id === 'pytorch' ? await torchDriver(spec, plan, params)
      : await peerDriver(def.id, spec, rows, plan, params);
    if ('reason' in made) { log(`not available: ${made.reason}`); finish(result(false, made.reason)); return; }
    driver = made;
    detail = driver.detail;
    log(detail);
  } catch (e) {
    const reason = `does not start: ${(e as Error).message.split('\n')[0]}`;
    log(`not available: ${reason}`);
    finish(result(false, reason));
    return;
  }

  /** Untimed first run (checked against the cap), the other warm-ups, then the timed runs. */
  const measure = (kind: ThroughputKind, N: number, once: () => number | void): boolean => {
    const what = `${kind} b${N}`;
    const t0 = now();
    const own = once();
    const first = typeof own === 'number' ? own : now() - t0;
    if (first > plan.capMs) {
      skipped.push({ what, reason: `one untimed ${kind === 'training' ? 'step' : 'pass'} took ${secs(first)}, over the ${secs(plan.capMs)} cap` });
      log(`${what}: first run ${secs(first)}, over the cap; not timed`);
      return false;
    }
    for (let i = 1; i < plan.warmup; i++) once();
    const ms = summarise(timeRuns({ warmup: 0, repeats: plan.repeats, minRepeats: plan.minRepeats, budgetMs: plan.budgetMs }, once));
    const ips = invert(ms, (t) => (1000 * N) / t);
    throughput.push({ kind, batch: N, msPerBatch: ms, imagesPerSecond: ips });
    finish(result(true)); // what is measured survives a worker stopped later
    log(`${what}: ${ips.median.toFixed(3)} img/s (${secs(ms.median)} per batch, ${ms.n} runs, ${ips.min.toFixed(3)}-${ips.max.toFixed(3)})`);
    return true;
  };
  const overCap = (what: string, N: number, estimate: number, basis: string) => {
    skipped.push({ what, reason: `${basis}, so one ${what.startsWith('training') ? 'step' : 'pass'} of batch ${N} would take about ${secs(estimate)}, over the ${secs(plan.capMs)} cap` });
    log(`${what}: about ${secs(estimate)}, over the cap; not measured`);
  };

  try {
    // 1. Inference: batch 1, then the larger batches whose pass, estimated from batch 1, fits under the cap.
    let perImageMs: number | null = null;
    for (const N of batches.inference) {
      if (perImageMs !== null && perImageMs * N > plan.capMs) { overCap(`inference b${N}`, N, perImageMs * N, `an image takes ${secs(perImageMs)}`); continue; }
      if (!measure('inference', N, driver.inference(N))) break;
      if (N === 1) perImageMs = throughput[throughput.length - 1].msPerBatch.median;
    }

    // 2. The profile, at batch 1 for every subject, so that every layer has a ratio to every peer.
    let stepMs: number | null = null;
    let basis = '';
    if (!driver.profileLayers) {
      skipped.push({ what: `per-layer profile (batch ${batches.profile})`, reason: driver.noProfile ?? 'this subject has no per-layer profile' });
      log('no per-layer profile for this subject');
    } else {
      const N = batches.profile;
      const backward = batches.profileBackward;
      log(`profile at batch ${N} (${backward ? 'forward, backward and update' : 'forward'} kernels)`);
      const { layers, syncer } = driver.profileLayers(N, backward);
      prof = profile(N, layers, syncer, { warmup: plan.warmup, repeats: plan.repeats, minRepeats: plan.minRepeats, budgetMs: plan.budgetMs / 5, capMs: plan.kernelCapMs }, (l) => log(l), (p) => { prof = p; finish(result(true)); });
      if (backward) {
        // Over-cap kernels count with their single run: the estimate is then a lower bound.
        stepMs = prof.kernels.reduce((a, k) => a + (k.ms?.median ?? k.overCapMs ?? 0), 0) / N;
        basis = 'a batch-1 step\'s kernels take about ' + secs(stepMs) + ' in the profile';
      }
    }
    if (batches.leftOut) skipped.push({ what: 'backward kernels and training', reason: batches.leftOut });

    // 3. Training at each batch whose step, estimated from the profile (or three forward passes), fits under the cap.
    if (stepMs === null && perImageMs !== null) { stepMs = 3 * perImageMs; basis = `three forward passes take about ${secs(stepMs)}`; }
    for (const N of batches.train) {
      if (stepMs !== null && stepMs * N > plan.capMs) { overCap(`training b${N}`, N, stepMs * N, basis); continue; }
      if (!measure('training', N, driver.training(N))) break;
    }
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    skipped.push({ what: 'the rest of this subject', reason: `failed: ${msg}` });
    log(`failed: ${msg}`);
    if (process.env.ALEXNET_BENCH_DEBUG) log((e as Error).stack ?? '');
  } finally {
    try { driver.dispose(); } catch { /* the figures are what matter here */ }
  }
  finish(result(true));
};

// ---- drivers ----------------------------------------------------------------------

const oursDriver = async (id: SubjectId, spec: NetSpec, rows: readonly LayerInfo[], plan: Plan, loadParams: () => Params): Promise<Driver<unknown> | { reason: string }> => {
  const { makePlacement, oursNetwork, batchOf, trainStepOf, OursCases, handleSyncer } = await import('./ours.ts');
  const made = await makePlacement(id);
  if ('reason' in made) return made;
  const params = loadParams();
  // The network's parameters leave the device while the profile runs (fc6 alone is 150 MB).
  let live: ReturnType<typeof oursNetwork> | undefined;
  const net = () => (live ??= oursNetwork(spec, params, made.placement));
  const trainRng = new Rng(plan.seed).derive('dropout');
  return {
    detail: made.detail,
    inference: (N) => { const { x } = batchOf(spec, N, plan.seed); return () => { net().forward(x); }; },
    training: (N) => { const { x, labels } = batchOf(spec, N, plan.seed); const n = net(); return trainStepOf(n, x, labels, plan.sgd, trainRng); },
    profileLayers: (N, backward) => {
      live?.dispose();
      live = undefined;
      const cases = new OursCases(spec, rows, made.placement, N, plan.seed, backward, plan.sgd);
      return { layers: rows.map((_, i) => ({ make: () => cases.layer(i), release: () => cases.release() })), syncer: handleSyncer as Syncer<unknown> };
    },
    dispose: () => live?.dispose(),
  };
};

const peerDriver = async (id: SubjectId, spec: NetSpec, rows: readonly LayerInfo[], plan: Plan, loadParams: () => Params): Promise<Driver<unknown> | { reason: string }> => {
  const which = id === 'tfjs-webgl' ? 'webgl' : id === 'tfjs-wasm' ? 'wasm' : 'cpu';
  const { setupTfjs, TfAlexnet, toNhwc } = await import('./peers/tfjs.ts');
  const { PeerCases, tensorSyncer } = await import('./peers/cases.ts');
  const tf = await import('@tensorflow/tfjs-core');
  let setup;
  try {
    setup = await setupTfjs(which);
  } catch (e) {
    return { reason: (e as Error).message.split('\n')[0] };
  }
  const { batchOf } = await import('./ours.ts');
  const net = new TfAlexnet(spec, rows, loadParams());
  const trainRng = new Rng(plan.seed).derive('dropout');
  return {
    detail: setup.detail,
    inference: (N) => {
      const x = toNhwc(batchOf(spec, N, plan.seed).x);
      return () => { tf.tidy(() => { net.logits(x).dataSync(); }); };
    },
    training: (N) => {
      const { x: hx, labels } = batchOf(spec, N, plan.seed);
      const x = toNhwc(hx);
      const oh = net.oneHot(labels);
      return () => {
        const masks = new Map([...dropoutMasks(spec, N, trainRng)].map(([k, v]) => [k, tf.tensor2d(v.data as Float32Array, [v.shape[0], v.shape[1]])]));
        const loss = net.trainStep(x, oh, masks, plan.sgd);
        tf.dispose([...masks.values()]);
        if (!Number.isFinite(loss)) throw new Error(`the training loss became ${loss}`);
      };
    },
    profileLayers: (N, backward) => {
      const cases = new PeerCases(net, N, plan.seed, backward, plan.sgd);
      return { layers: rows.map((_, i) => ({ make: () => cases.layer(i), release: () => cases.release() })), syncer: tensorSyncer as Syncer<unknown> };
    },
    dispose: () => net.dispose(),
  };
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
    dispose: () => peer.close(),
  };
};

main().catch((e: unknown) => {
  process.stderr.write(`bench worker: ${(e as Error).message.split('\n')[0]}\n`);
  process.exit(1);
});
