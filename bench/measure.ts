/**
 * How one subject is measured, the same in a worker of `npm run bench`
 * (bench/worker.ts) and in the browser page (`npm run web`, Bench):
 *
 * 1. inference at each batch whose pass, estimated from batch 1, fits under the cap;
 * 2. the per-layer profile (bench/profile.ts) at the plan's profile batch;
 * 3. training at each batch whose step, estimated from the profile's kernels
 *    (or from three forward passes), fits under the cap.
 *
 * A measurement is an untimed first run, checked against the cap, the other
 * warm-up runs, then the timed runs (bench/stats.ts). Whatever is measured is
 * handed to `hooks.partial` at once, so it survives a subject stopped later;
 * whatever is not is recorded with the reason.
 *
 * Nothing here touches Node: the subject's work comes through a `Driver`, and
 * progress goes out through the hooks.
 */
import { batchesFor, type Plan, type SubjectDef } from './plan.ts';
import { type LayerCases, profileSteps, type Syncer } from './profile.ts';
import type { Peak, Profile, Skipped, SubjectResult, Throughput, ThroughputKind } from './record.ts';
import { drain, drainPausing, invert, now, summarise, timedRuns, timedRunsAwaited } from './stats.ts';

/**
 * What a subject provides to the common measuring code. A run returns its own
 * milliseconds when the subject times its work itself (the PyTorch peer, whose
 * work runs in another process); otherwise the whole call is timed.
 */
export type Run = () => number | void | Promise<number | void>;

export interface Driver<H> {
  readonly detail: string;
  /** A run returns its own time where it leaves set-up outside the timed span; a promise where its reads are awaited. */
  inference(N: number): Run;
  training(N: number): Run;
  /** Absent for a subject without a per-layer profile; `noProfile` says why. */
  profileLayers?(N: number, backward: boolean): { layers: LayerCases<H>[]; syncer: Syncer<H> };
  readonly noProfile?: string;
  /** Times the library's own float32 matrix product, where the subject offers one (see SubjectResult.peak). */
  peak?(): Peak;
  dispose(): void;
}

/** Makes the subject's driver, or says why the subject is not available. */
export type MakeDriver = () => Promise<Driver<unknown> | { reason: string }>;

export interface MeasureHooks {
  /** One progress line (the caller adds the subject's name if it wants it). */
  log(line: string): void;
  /** The result so far, after every measurement and profiled kernel. */
  partial(r: SubjectResult): void;
  /**
   * Awaited after every run and profiled kernel and between measurements,
   * never inside a timed span, so that a page can repaint; without it the
   * measuring never gives up the thread.
   */
  yield?: () => Promise<void>;
  /** Also log the stack of a failure. */
  debug?: boolean;
}

const secs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/** Measures one subject under the plan and returns its result; it does not throw for the subject's own failures. */
export const measureSubject = async (def: SubjectDef, plan: Plan, makeDriver: MakeDriver, hooks: MeasureHooks): Promise<SubjectResult> => {
  const { log } = hooks;
  const started = now();
  const batches = batchesFor(plan, def);
  const throughput: Throughput[] = [];
  const skipped: Skipped[] = [];
  let prof: Profile | undefined;
  let detail: string | undefined;
  let peak: Peak | undefined;

  const result = (available: boolean, reason?: string): SubjectResult => ({
    id: def.id, label: def.label, kind: def.kind, available, reason, detail,
    throughput: [...throughput], profile: prof, skipped: [...skipped], wallSeconds: (now() - started) / 1000,
    ...(peak ? { peak } : {}),
  });
  const pause = async (): Promise<void> => { if (hooks.yield) await hooks.yield(); };
  const steps = <T>(g: Generator<void, T, void>): T | Promise<T> => (hooks.yield ? drainPausing(g, hooks.yield) : drain(g));

  let driver: Driver<unknown>;
  try {
    const made = await makeDriver();
    if ('reason' in made) { log(`not available: ${made.reason}`); return result(false, made.reason); }
    driver = made;
    detail = driver.detail;
    log(detail);
  } catch (e) {
    const reason = `does not start: ${(e as Error).message.split('\n')[0]}`;
    log(`not available: ${reason}`);
    return result(false, reason);
  }

  /** Untimed first run (checked against the cap), the other warm-ups, then the timed runs. */
  const measure = async (kind: ThroughputKind, N: number, run: Run): Promise<boolean> => {
    const what = `${kind} b${N}`;
    const t0 = now();
    const firstRun = run();
    const awaited = firstRun instanceof Promise;
    const own = awaited ? await firstRun : firstRun;
    const first = typeof own === 'number' ? own : now() - t0;
    if (first > plan.capMs) {
      skipped.push({ what, reason: `one untimed ${kind === 'training' ? 'step' : 'pass'} took ${secs(first)}, over the ${secs(plan.capMs)} cap` });
      log(`${what}: first run ${secs(first)}, over the cap; not timed`);
      return false;
    }
    await pause();
    for (let i = 1; i < plan.warmup; i++) { await run(); await pause(); }
    const repeat = { warmup: 0, repeats: plan.repeats, minRepeats: plan.minRepeats, budgetMs: plan.budgetMs };
    const ms = summarise(awaited ? await timedRunsAwaited(repeat, run, pause) : await steps(timedRuns(repeat, run as () => number | void)));
    const ips = invert(ms, (t) => (1000 * N) / t);
    throughput.push({ kind, batch: N, msPerBatch: ms, imagesPerSecond: ips });
    hooks.partial(result(true));
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
      if (!(await measure('inference', N, driver.inference(N)))) break;
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
      const p = await steps(profileSteps(N, layers, syncer, { warmup: plan.warmup, repeats: plan.repeats, minRepeats: plan.minRepeats, budgetMs: plan.budgetMs / 5, capMs: plan.kernelCapMs }, (l) => log(l), (sofar) => { prof = sofar; hooks.partial(result(true)); }));
      prof = p;
      if (backward) {
        // Over-cap kernels count with their single run: the estimate is then a lower bound.
        stepMs = p.kernels.reduce((a, k) => a + (k.ms?.median ?? k.overCapMs ?? 0), 0) / N;
        basis = 'a batch-1 step\'s kernels take about ' + secs(stepMs) + ' in the profile';
      }
    }
    if (batches.leftOut) skipped.push({ what: def.inferenceOnly ? 'training' : 'backward kernels and training', reason: batches.leftOut });

    // 3. Training at each batch whose step, estimated from the profile (or three forward passes), fits under the cap.
    if (stepMs === null && perImageMs !== null) { stepMs = 3 * perImageMs; basis = `three forward passes take about ${secs(stepMs)}`; }
    for (const N of batches.train) {
      await pause();
      if (stepMs !== null && stepMs * N > plan.capMs) { overCap(`training b${N}`, N, stepMs * N, basis); continue; }
      if (!(await measure('training', N, driver.training(N)))) break;
    }

    // 4. The library's own matrix product, the yardstick of everyone's GFLOP/s.
    if (driver.peak) {
      await pause();
      peak = driver.peak();
      log(`float32 matrix product: ${peak.gflops.toFixed(1)} GFLOP/s (${peak.what})`);
    }
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    skipped.push({ what: 'the rest of this subject', reason: `failed: ${msg}` });
    log(`failed: ${msg}`);
    if (hooks.debug) log((e as Error).stack ?? '');
  } finally {
    try { driver.dispose(); } catch { /* the figures are what matter here */ }
  }
  return result(true);
};
