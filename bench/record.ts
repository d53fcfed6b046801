/**
 * The benchmark record: one per run, one JSON line in the history file.
 *
 * A record holds where and when it ran (date, commit, machine), what the run
 * was asked to do (the plan), and every figure: throughput per subject and
 * batch, and the per-layer, per-kernel profile. Every timed figure is a `Stat`
 * (median, min, max of n >= 2 timed runs after warm-up).
 *
 * Nothing here touches Node, so that the browser page builds and checks its
 * records with the same code (bench/browser-record.ts); the history file is
 * read and written by bench/history.ts.
 */
import { alexnet, describe, macCount } from '../core/alexnet.ts';
import { excerpt, orThrow } from '../core/errors.ts';
import { type Plan, planRecord } from './plan.ts';
import type { Stat } from './stats.ts';

export const SCHEMA = 1;

export interface Machine {
  /**
   * What identifies the machine across runs: CPU model, cores and GL renderer;
   * for a run in a browser, `browser:` and the browser, OS, cores and WebGL
   * renderer (see BROWSER_KEY), so that it is never taken for a Node machine.
   */
  readonly key: string;
  /** The CPU model; a page cannot read it, so a browser record says how many logical cores it saw. */
  readonly cpu: string;
  readonly cores: number;
  /** Null where the machine does not say (a page reads at most a rounded navigator.deviceMemory, and only in some browsers). */
  readonly memoryGiB: number | null;
  readonly os: string;
  /** The Node version; for a run in a browser, the browser's name and version. */
  readonly node: string;
  /** The GL renderer headless-gl (or the page's WebGL2 context) gets, or null with the reason in glNote. */
  readonly gl: string | null;
  readonly glNote?: string;
  /** For a run in a browser: the page's navigator.userAgent. */
  readonly userAgent?: string;
  /**
   * 1-minute load average when the run began and ended (other work on the
   * machine skews figures); absent from a browser record, since a page cannot read it.
   */
  readonly load?: { readonly start: number; readonly end: number };
}

/** How a browser record's machine key begins. */
export const BROWSER_KEY = 'browser:';

export const inBrowser = (r: BenchRecord): boolean => r.machine.key.startsWith(BROWSER_KEY);

export type ThroughputKind = 'inference' | 'training';

export interface Throughput {
  readonly kind: ThroughputKind;
  readonly batch: number;
  readonly msPerBatch: Stat;
  readonly imagesPerSecond: Stat;
}

export type Pass = 'forward' | 'backward' | 'update';

export interface KernelRow {
  readonly layer: string;
  readonly kernel: string;
  readonly pass: Pass;
  /** Multiply-adds of the call for the whole batch (from the shapes, as `alexnet info` counts them); 0 where none are counted. */
  readonly macs: number;
  /** Milliseconds of the kernel alone (call + sync, less the sync's own cost); null when over the cap. */
  readonly ms: Stat | null;
  /** 2 * macs / median time, in GFLOP/s; null without macs or time. */
  readonly gflops: number | null;
  /** The one untimed run took longer than the kernel cap, so the kernel was not repeated (a lower bound, not a figure). */
  readonly overCapMs?: number;
}

export interface Profile {
  readonly batch: number;
  /** What a sync costs on its own (a one-column readback of a finished result), subtracted from every kernel; null if no kernel was repeated. */
  readonly syncMs: Stat | null;
  readonly kernels: readonly KernelRow[];
}

export interface Skipped {
  readonly what: string;
  readonly reason: string;
}

export interface SubjectResult {
  readonly id: string;
  readonly label: string;
  readonly kind: 'ours' | 'peer';
  readonly available: boolean;
  /** Why the subject did not run (not available, failed). */
  readonly reason?: string;
  /** What actually ran: backend names and modes, library versions, flags. */
  readonly detail?: string;
  readonly throughput: readonly Throughput[];
  readonly profile?: Profile;
  readonly skipped: readonly Skipped[];
  readonly wallSeconds: number;
  /** A float32 matrix product as fast as this subject's library makes it on the machine (PyTorch's BLAS): the yardstick for everyone's GFLOP/s. */
  readonly peak?: Peak;
}

export interface Peak {
  readonly gflops: number;
  /** What was timed: "torch.mm 2048x2048, OpenBLAS, 2 threads". */
  readonly what: string;
}

export interface PlanRecord {
  readonly mode: 'full' | 'quick';
  /** No subject leaves out its slow parts (see plan.ts SubjectDef.forwardOnly). */
  readonly thorough: boolean;
  readonly seed: number;
  readonly inferenceBatches: readonly number[];
  readonly trainBatches: readonly number[];
  readonly profileBatch: number;
  readonly profileBackward: boolean;
  readonly warmup: number;
  readonly repeats: number;
  readonly minRepeats: number;
  /** Per measurement: no more timed runs once this much time went on them (never below minRepeats). */
  readonly budgetMs: number;
  /** A pass or step estimated (or found) to take longer is not timed. */
  readonly capMs: number;
  /** A profiled kernel whose first run takes longer is not repeated. */
  readonly kernelCapMs: number;
  readonly sgd: { readonly lr: number; readonly momentum: number; readonly weightDecay: number };
}

export interface Flag {
  readonly subject: string;
  readonly figure: string;
  readonly previous: number;
  readonly current: number;
  /** Fractional drop, 0.14 = 14% lower. */
  readonly drop: number;
  readonly against: { readonly date: string; readonly commit: string };
}

export interface BenchRecord {
  readonly schema: number;
  readonly date: string;
  readonly commit: string;
  /** Uncommitted changes in the tree when the run began. */
  readonly dirty: boolean;
  readonly command: string;
  /** For a run in a browser: the address of the page that measured it. */
  readonly url?: string;
  readonly machine: Machine;
  readonly plan: PlanRecord;
  readonly model: {
    readonly name: string;
    readonly input: readonly number[];
    readonly macsPerImage: number;
    readonly layers: readonly { readonly name: string; readonly macs: number }[];
  };
  readonly subjects: readonly SubjectResult[];
  /** Figures more than 10% below the previous record of the same machine. */
  readonly flags: readonly Flag[];
  readonly wallSeconds: number;
}

// ---- figures: every comparable number of a subject, by a stable key ---------

export interface Figure {
  readonly key: string;
  readonly value: number;
  readonly unit: 'img/s' | 'GFLOP/s';
}

export const throughputKey = (kind: ThroughputKind, batch: number): string => `${kind} b${batch}`;
export const kernelKey = (profileBatch: number, layer: string, kernel: string, pass: Pass): string =>
  `${layer} ${kernel} (${pass}) b${profileBatch}`;

/** The higher-is-better figures of a subject: images per second, and GFLOP/s of every counted kernel. */
export const figuresOf = (s: SubjectResult): Figure[] => [
  ...s.throughput.map((t) => ({ key: throughputKey(t.kind, t.batch), value: t.imagesPerSecond.median, unit: 'img/s' as const })),
  ...(s.profile?.kernels ?? [])
    .filter((k) => k.gflops !== null)
    .map((k) => ({ key: kernelKey(s.profile!.batch, k.layer, k.kernel, k.pass), value: k.gflops!, unit: 'GFLOP/s' as const })),
];

export const DROP_THRESHOLD = 0.1;

/** Figures that dropped more than 10% against the previous record of the same machine and mode. */
export const regressions = (current: Omit<BenchRecord, 'flags'>, history: readonly BenchRecord[]): Flag[] => {
  const previous = [...history].reverse().find((r) => r.machine.key === current.machine.key && r.plan.mode === current.plan.mode);
  if (!previous) return [];
  const flags: Flag[] = [];
  for (const s of current.subjects) {
    const before = previous.subjects.find((p) => p.id === s.id);
    if (!before) continue;
    const old = new Map(figuresOf(before).map((f) => [f.key, f.value]));
    for (const f of figuresOf(s)) {
      const p = old.get(f.key);
      if (p === undefined || !(p > 0)) continue;
      const drop = (p - f.value) / p;
      if (drop > DROP_THRESHOLD) flags.push({ subject: s.id, figure: `${f.key} ${f.unit}`, previous: p, current: f.value, drop, against: { date: previous.date, commit: previous.commit } });
    }
  }
  return flags;
};

// ---- assembling a record -----------------------------------------------------

/** What a run knows when it has measured its subjects: the record's own facts, and the plan it ran. */
export type RunFacts = Pick<BenchRecord, 'date' | 'commit' | 'dirty' | 'command' | 'url' | 'machine' | 'subjects' | 'wallSeconds'> & { readonly plan: Plan };

/** The network every run measures, as `alexnet info` describes it. */
export const modelRecord = (): BenchRecord['model'] => {
  const spec = alexnet();
  const rows = orThrow(describe(spec));
  return { name: spec.name, input: spec.input, macsPerImage: macCount(rows), layers: rows.map((r) => ({ name: r.name, macs: r.macs })) };
};

/**
 * A record without its flags (those need the history): the run's facts, the
 * schema, the plan as recorded and the model, filled in the same way for a run
 * in Node (bench/run.ts) and one in the browser (bench/browser-record.ts).
 */
export const recordOf = ({ plan, url, ...facts }: RunFacts): Omit<BenchRecord, 'flags'> => ({
  schema: SCHEMA,
  ...facts,
  ...(url !== undefined ? { url } : {}),
  plan: planRecord(plan),
  model: modelRecord(),
});

/** Two records of the same run: the same start, commit and machine. */
export const sameRun = (a: BenchRecord, b: BenchRecord): boolean => a.date === b.date && a.commit === b.commit && a.machine.key === b.machine.key;

// ---- validation (the suite's own check of what it writes) ----------------------

const isStat = (s: unknown): s is Stat => {
  if (typeof s !== 'object' || s === null) return false;
  const o = s as Record<string, unknown>;
  return [o.median, o.min, o.max, o.n].every((v) => typeof v === 'number' && Number.isFinite(v))
    && (o.min as number) <= (o.median as number) && (o.median as number) <= (o.max as number) && (o.n as number) >= 2;
};

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Everything wrong with a record's structure, as readable lines; empty when it
 * is valid. It takes any JSON value (a record from a file given to --import
 * may be anything) and never throws; a record it passes has every field the
 * history, the flags and the report read.
 */
export const validateRecord = (r: unknown): string[] => {
  const bad: string[] = [];
  if (!isObject(r)) return ['the record is not an object'];
  const o = r as Partial<BenchRecord>;
  if (o.schema !== SCHEMA) bad.push(`schema is ${excerpt(String(JSON.stringify(o.schema)), 24)}, expected ${SCHEMA}`);
  if (typeof o.date !== 'string' || Number.isNaN(Date.parse(o.date))) bad.push('date is not an ISO date');
  if (typeof o.commit !== 'string' || o.commit.length === 0) bad.push('commit is missing');
  const m = o.machine;
  if (!isObject(m) || typeof m.cpu !== 'string' || !(m.cores >= 1) || typeof m.node !== 'string' || typeof m.key !== 'string') bad.push('machine description is incomplete (cpu, cores, node, key)');
  else {
    if (m.gl === null && typeof m.glNote !== 'string') bad.push('machine.gl is null without a glNote saying why');
    if (m.load !== undefined && !(isObject(m.load) && Number.isFinite(m.load.start) && Number.isFinite(m.load.end))) bad.push('machine.load is not a start and end load average');
    if (m.key.startsWith(BROWSER_KEY) !== (m.load === undefined)) bad.push(m.load === undefined ? 'machine.load is missing (only a browser record, key browser:..., has none)' : 'a browser record (key browser:...) has a load average, which a page cannot read');
  }
  if (!isObject(o.plan) || !['full', 'quick'].includes(o.plan.mode)) bad.push('plan.mode is not full or quick');
  if (!isObject(o.model) || !(o.model.macsPerImage > 0) || !Array.isArray(o.model.layers)) bad.push('model description is incomplete');
  if (!Array.isArray(o.subjects) || o.subjects.length === 0) return [...bad, 'no subjects'];
  (o.subjects as unknown[]).forEach((x, i) => {
    if (!isObject(x)) { bad.push(`subject ${i + 1} is not an object`); return; }
    const s = x as unknown as SubjectResult;
    if (typeof s.id !== 'string') { bad.push(`subject ${i + 1} has no id`); return; }
    const where = `subject ${excerpt(s.id, 40)}`;
    if (typeof s.label !== 'string' || !['ours', 'peer'].includes(s.kind)) bad.push(`${where}: label or kind missing`);
    // what figuresOf reads, of every subject
    if (!Array.isArray(s.throughput) || !s.throughput.every((t): boolean => isObject(t))) { bad.push(`${where}: throughput is not a list of measurements`); return; }
    if (!s.available) {
      if (typeof s.reason !== 'string' || s.reason.length === 0) bad.push(`${where}: not available but no reason given`);
      return;
    }
    for (const t of s.throughput) {
      const name = `${excerpt(String(t.kind), 12)} b${excerpt(String(t.batch), 12)}`;
      if (!['inference', 'training'].includes(t.kind) || !(Number.isSafeInteger(t.batch) && t.batch >= 1)) bad.push(`${where}: ${name} is not an inference or training batch`);
      else if (!isStat(t.msPerBatch) || !isStat(t.imagesPerSecond)) bad.push(`${where}: ${name} has no valid median/min/max over >= 2 runs`);
      else if (Math.abs(t.imagesPerSecond.median - (1000 * t.batch) / t.msPerBatch.median) > 1e-6 * t.imagesPerSecond.median) bad.push(`${where}: ${name} images/s does not match ms per batch`);
    }
    if (!Array.isArray(s.skipped)) { bad.push(`${where}: skipped is not a list`); return; }
    if (s.throughput.length === 0 && s.skipped.length === 0) bad.push(`${where}: available but measured nothing and skipped nothing`);
    if (s.peak !== undefined && !(isObject(s.peak) && Number.isFinite(s.peak.gflops) && s.peak.gflops > 0 && typeof s.peak.what === 'string')) bad.push(`${where}: peak is not a positive GFLOP/s with what was timed`);
    if (s.profile !== undefined) {
      if (!isObject(s.profile) || !Number.isSafeInteger(s.profile.batch) || !Array.isArray(s.profile.kernels) || !s.profile.kernels.every((k): boolean => isObject(k))) { bad.push(`${where}: profile is not a batch and a list of kernels`); return; }
      if (s.profile.syncMs !== null && !isStat(s.profile.syncMs)) bad.push(`${where}: profile sync cost is not a valid statistic`);
      for (const k of s.profile.kernels) {
        const name = `${excerpt(String(k.layer), 24)} ${excerpt(String(k.kernel), 24)}`;
        if (typeof k.layer !== 'string' || typeof k.kernel !== 'string' || !['forward', 'backward', 'update'].includes(k.pass)) bad.push(`${where}: ${name} has no layer, kernel and pass`);
        if (k.ms === null ? typeof k.overCapMs !== 'number' : !isStat(k.ms)) bad.push(`${where}: ${name} has neither a valid time nor an over-cap note`);
        if (k.gflops !== null && !(k.macs > 0 && k.gflops > 0)) bad.push(`${where}: ${name} has GFLOP/s without multiply-adds`);
      }
    }
  });
  if (!Array.isArray(o.flags)) bad.push('flags is missing');
  return bad;
};
