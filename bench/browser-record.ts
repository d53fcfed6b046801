/**
 * The record of a run in a browser: what the page (`npm run web`, Bench)
 * downloads after measuring the browser subjects with bench/measure.ts, in the
 * history's format, so that `npm run bench -- --report --import FILE` takes
 * it in beside Node's records.
 *
 * A page cannot read the CPU model or the load average, so the record says
 * how many logical cores the browser reports and has no load; its machine key
 * begins with `browser:`, so that its figures are compared only with earlier
 * runs of the same browser on the same machine.
 */
import type { Plan } from './plan.ts';
import { BROWSER_KEY, type BenchRecord, type Machine, recordOf, type SubjectResult } from './record.ts';

/** What the page knows about where it runs. */
export interface BrowserMachine {
  readonly userAgent: string;
  /** Name and version, e.g. 'Chromium 156.0.8078.114'. */
  readonly browser: string;
  /** navigator.hardwareConcurrency. */
  readonly cores: number;
  /** navigator.deviceMemory where the browser has it, else null. */
  readonly memoryGiB: number | null;
  readonly os: string;
  /** The WebGL2 renderer (unmasked where the browser allows), or null with the reason in glNote. */
  readonly gl: string | null;
  readonly glNote?: string;
}

export interface BrowserRun {
  /** When the run began, ISO 8601. */
  readonly date: string;
  /** The commit the page was built from, and whether the tree had uncommitted changes. */
  readonly commit: string;
  readonly dirty: boolean;
  readonly machine: BrowserMachine;
  readonly plan: Plan;
  readonly subjects: SubjectResult[];
  readonly wallSeconds: number;
  /** The page's address. */
  readonly url: string;
}

/** The browser's name without its version: an update of the browser stays the same machine. */
const family = (browser: string): string => browser.trim().replace(/\s+v?\d[\w.]*$/, '') || browser;

export const browserMachine = (m: BrowserMachine): Machine => ({
  key: `${BROWSER_KEY}${family(m.browser)} | ${m.os} x${m.cores} | ${m.gl ?? 'no WebGL2'}`,
  cpu: `${m.cores} logical cores (browser)`,
  cores: m.cores,
  memoryGiB: m.memoryGiB,
  os: m.os,
  node: m.browser,
  gl: m.gl,
  ...(m.glNote !== undefined ? { glNote: m.glNote } : {}),
  userAgent: m.userAgent,
});

/**
 * The record of the page's run. Its flags are empty: the page has no history;
 * `--import` computes them against the history it appends to. Check it with
 * `validateRecord` (bench/record.ts) before offering it for download.
 */
export const browserRecord = (o: BrowserRun): BenchRecord => ({
  ...recordOf({
    date: o.date,
    commit: o.commit,
    dirty: o.dirty,
    command: `npm run web (Bench) in ${o.machine.browser}`,
    url: o.url,
    machine: browserMachine(o.machine),
    plan: o.plan,
    subjects: o.subjects,
    wallSeconds: o.wallSeconds,
  }),
  flags: [],
});
