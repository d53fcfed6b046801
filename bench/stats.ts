/**
 * Timing and summary statistics. Every figure the suite reports is the median
 * of several timed runs that follow untimed warm-up runs, with the min-max
 * spread next to it; a figure from a single run is never reported.
 */

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** How many timed runs the figure summarises (at least 2). */
  readonly n: number;
}

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const summarise = (xs: readonly number[]): Stat => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  n: xs.length,
});

/** Maps a statistic through a monotone decreasing function (ms per batch -> images per second). */
export const invert = (s: Stat, f: (v: number) => number): Stat => ({ median: f(s.median), min: f(s.max), max: f(s.min), n: s.n });

export interface RepeatPlan {
  /** Untimed runs first (shader compilation, caches, JIT). */
  readonly warmup: number;
  /** Timed runs wanted. */
  readonly repeats: number;
  /** Never fewer timed runs than this, whatever the budget says. */
  readonly minRepeats: number;
  /** Stop adding timed runs once this many milliseconds have gone on timed runs (after minRepeats). */
  readonly budgetMs: number;
}

export const now = (): number => performance.now();

/**
 * Runs `once` warm-up + timed times and returns the milliseconds of each timed
 * run. `once` returns its own measured time when it needs to leave set-up or
 * tear-down work outside the timed span; otherwise the whole call is timed.
 */
export const timeRuns = (plan: RepeatPlan, once: () => number | void): number[] => drain(timedRuns(plan, once));

/**
 * `timeRuns` one run at a time: the generator stops after each timed run,
 * outside its timed span, so that a caller can hand the thread back between
 * runs (a page repaints there); it returns the times.
 */
export function* timedRuns(plan: RepeatPlan, once: () => number | void): Generator<void, number[], void> {
  for (let i = 0; i < plan.warmup; i++) once();
  const times: number[] = [];
  let spent = 0;
  while (times.length < plan.repeats && (times.length < plan.minRepeats || spent < plan.budgetMs)) {
    const t0 = now();
    const r = once();
    const t = typeof r === 'number' ? r : now() - t0;
    times.push(t);
    spent += t;
    yield;
  }
  return times;
}

/** `timedRuns` for a run whose reads are awaited: each run's promise settles inside its timed span; `pause` is awaited after each. */
export const timedRunsAwaited = async (plan: RepeatPlan, once: () => number | void | Promise<number | void>, pause: () => Promise<void>): Promise<number[]> => {
  for (let i = 0; i < plan.warmup; i++) await once();
  const times: number[] = [];
  let spent = 0;
  while (times.length < plan.repeats && (times.length < plan.minRepeats || spent < plan.budgetMs)) {
    const t0 = now();
    const r = await once();
    const t = typeof r === 'number' ? r : now() - t0;
    times.push(t);
    spent += t;
    await pause();
  }
  return times;
};

/** Runs a stepwise measurement to its end without a pause. */
export const drain = <T>(steps: Generator<void, T, void>): T => {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
};

/** Runs a stepwise measurement to its end, awaiting `pause` at every stop. */
export const drainPausing = async <T>(steps: Generator<void, T, void>, pause: () => Promise<void>): Promise<T> => {
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await pause();
    }
  } finally {
    steps.return(undefined as T); // a pause that throws still runs the measurement's own clean-up
  }
};
