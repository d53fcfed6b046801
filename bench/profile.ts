/**
 * The per-layer, per-kernel profile: every kernel a training step runs, called
 * on its own with the layer's shapes, timed to a sync point.
 *
 * GPU work is asynchronous: a kernel call returns once the work is queued. So
 * in this mode (and only here; throughput runs have no extra syncs) each call
 * is followed by a sync, a read back of one column of its result, which cannot
 * finish before the result does. The sync's own cost is measured right after,
 * on the finished result, and subtracted, so a kernel's time is its work, not
 * its readback.
 */
import type { KernelRow, Pass, Profile } from './record.ts';
import { drain, now, summarise } from './stats.ts';

export interface KernelCase<H> {
  readonly layer: string;
  readonly kernel: string;
  readonly pass: Pass;
  /** Multiply-adds of the whole call (both towers), 0 when not counted. */
  readonly macs: number;
  /** Runs the kernel (on every tower it runs on) and returns what it made. */
  readonly run: () => H[];
}

export interface Syncer<H> {
  /** Blocks until every result is computed. */
  sync(hs: readonly H[]): void;
  dispose(hs: readonly H[]): void;
}

export interface ProfilePlan {
  readonly warmup: number;
  readonly repeats: number;
  readonly minRepeats: number;
  /** Per kernel: stop adding timed runs after this many milliseconds (never below minRepeats). */
  readonly budgetMs: number;
  /** A kernel whose first untimed run takes longer than this is not repeated. */
  readonly capMs: number;
}

export const gflops = (macs: number, ms: number): number | null => (macs > 0 && ms > 0 ? (2 * macs) / (ms * 1e6) : null);

/** One layer's cases: `make` builds its inputs and cases, `release` frees them afterwards. */
export interface LayerCases<H> {
  readonly make: () => readonly KernelCase<H>[];
  readonly release: () => void;
}

/** Times each layer's cases, one layer at a time, and returns the profile rows in order. */
export const profile = <H>(
  batch: number,
  layers: readonly LayerCases<H>[],
  s: Syncer<H>,
  plan: ProfilePlan,
  progress?: (line: string) => void,
  checkpoint?: (sofar: Profile) => void,
): Profile => drain(profileSteps(batch, layers, s, plan, progress, checkpoint));

/**
 * `profile` one kernel at a time: the generator stops after each kernel's
 * runs, between timed spans, so that a caller can hand the thread back there
 * (a page repaints); it returns the profile.
 */
export function* profileSteps<H>(
  batch: number,
  layers: readonly LayerCases<H>[],
  s: Syncer<H>,
  plan: ProfilePlan,
  progress?: (line: string) => void,
  checkpoint?: (sofar: Profile) => void,
): Generator<void, Profile, void> {
  const syncTimes: number[] = [];
  const rows: KernelRow[] = [];
  const current = (): Profile => ({ batch, syncMs: syncTimes.length >= 2 ? summarise(syncTimes) : null, kernels: [...rows] });
  for (const layer of layers) {
    try {
      for (const c of layer.make()) {
        timeCase(c, s, plan, rows, syncTimes, progress);
        checkpoint?.(current());
        yield;
      }
    } finally {
      layer.release();
    }
  }
  return current();
}

const timeCase = <H>(c: KernelCase<H>, s: Syncer<H>, plan: ProfilePlan, rows: KernelRow[], syncTimes: number[], progress?: (line: string) => void): void => {
  {
    let over: number | undefined;
    for (let i = 0; i < plan.warmup; i++) {
      const t0 = now();
      const outs = c.run();
      s.sync(outs);
      const t = now() - t0;
      s.dispose(outs);
      if (i === 0 && t > plan.capMs) { over = t; break; }
    }
    if (over !== undefined) {
      rows.push({ layer: c.layer, kernel: c.kernel, pass: c.pass, macs: c.macs, ms: null, gflops: null, overCapMs: over });
      progress?.(`${c.layer} ${c.kernel} (${c.pass}): first run ${(over / 1000).toFixed(1)} s, over the ${(plan.capMs / 1000).toFixed(0)} s cap, not repeated`);
      return;
    }
    const times: number[] = [];
    let spent = 0;
    while (times.length < plan.repeats && (times.length < plan.minRepeats || spent < plan.budgetMs)) {
      const t0 = now();
      const outs = c.run();
      s.sync(outs);
      const t1 = now();
      s.sync(outs);
      const t2 = now();
      s.dispose(outs);
      syncTimes.push(t2 - t1);
      times.push(Math.max(0, t1 - t0 - (t2 - t1)));
      spent += t1 - t0;
    }
    const ms = summarise(times);
    rows.push({ layer: c.layer, kernel: c.kernel, pass: c.pass, macs: c.macs, ms, gflops: gflops(c.macs, ms.median) });
    progress?.(`${c.layer} ${c.kernel} (${c.pass}): ${ms.median.toFixed(2)} ms${rows[rows.length - 1].gflops ? `, ${rows[rows.length - 1].gflops!.toFixed(2)} GFLOP/s` : ''}`);
  }
};

// ---- per-layer summaries --------------------------------------------------------

export interface LayerSummary {
  readonly layer: string;
  readonly forwardMs: number;
  readonly backwardMs: number;
  readonly updateMs: number;
  readonly totalMs: number;
  /** Forward multiply-adds of the learned kernel for the batch. */
  readonly forwardMacs: number;
  readonly forwardGflops: number | null;
  /** All counted multiply-adds (forward and both backward products) over all the layer's time. */
  readonly trainGflops: number | null;
  /** Some kernel of the layer was over the cap: its sums are lower bounds. */
  readonly incomplete: boolean;
  /** The kernel that takes the most time in the layer. */
  readonly topKernel: string;
}

const msOf = (k: KernelRow): number => k.ms?.median ?? k.overCapMs ?? 0;

export const summariseLayers = (p: Profile): LayerSummary[] => {
  const layers = [...new Set(p.kernels.map((k) => k.layer))];
  return layers.map((layer) => {
    const ks = p.kernels.filter((k) => k.layer === layer);
    const sum = (pass: Pass) => ks.filter((k) => k.pass === pass).reduce((s, k) => s + msOf(k), 0);
    const forwardMs = sum('forward');
    const backwardMs = sum('backward');
    const updateMs = sum('update');
    const totalMs = forwardMs + backwardMs + updateMs;
    const learned = ks.find((k) => k.pass === 'forward' && k.macs > 0);
    const forwardMacs = learned?.macs ?? 0;
    const allMacs = ks.filter((k) => k.pass !== 'update').reduce((s, k) => s + k.macs, 0);
    const top = [...ks].sort((a, b) => msOf(b) - msOf(a))[0];
    return {
      layer,
      forwardMs,
      backwardMs,
      updateMs,
      totalMs,
      forwardMacs,
      forwardGflops: gflops(forwardMacs, forwardMs),
      trainGflops: backwardMs > 0 ? gflops(allMacs, forwardMs + backwardMs) : null,
      incomplete: ks.some((k) => k.ms === null),
      topKernel: top ? `${top.kernel} (${top.pass})` : '-',
    };
  });
};

/** The layer with the most time (forward, backward and update together), and its share. */
export const dominantLayer = (p: Profile): { layer: string; share: number; kernel: string } | null => {
  const ls = summariseLayers(p);
  const total = ls.reduce((s, l) => s + l.totalMs, 0);
  if (ls.length === 0 || !(total > 0)) return null;
  const top = [...ls].sort((a, b) => b.totalMs - a.totalMs)[0];
  return { layer: top.layer, share: top.totalMs / total, kernel: top.topKernel };
};
