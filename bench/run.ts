/**
 * `npm run bench`: measures AlexNet (227 x 227) on every backend and placement
 * of the project and on the TensorFlow.js and PyTorch peers, prints the tables with a ratio
 * to each peer beside every figure, and appends one record to the history.
 *
 *   npm run bench                    the full run (18-25 minutes on the shared 2-core machine)
 *   npm run bench -- --quick         a reduced run, about a minute
 *   npm run bench -- --report        charts and bench/RESULTS.md from the history
 *   npm run bench -- --report --import FILE
 *                                    the same, after appending the records in FILE
 *                                    (the browser page's downloads) to the history
 *
 * Each subject runs in a worker process of its own (bench/worker.ts), one at a
 * time. Without an X display the run re-executes itself under `xvfb-run -a` so
 * that headless GL gets a context.
 */
import { spawn, spawnSync } from 'node:child_process';
import { webgpuEnvironment } from '../backends/webgpu/node.ts';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { alexnet } from '../core/alexnet.ts';
import { appendRecord, ImportError, importRecords, readHistory } from './history.ts';
import { describeMachine, gitCommit, loadNow } from './machine.ts';
import { writeParamsFile } from './params-file.ts';
import { BROWSER_SUBJECTS, FULL, NODE_SUBJECTS, type Plan, QUICK, type SubjectId, subjectById } from './plan.ts';
import { type BenchRecord, recordOf, regressions, type SubjectResult, validateRecord } from './record.ts';
import { summaryText } from './table.ts';
import type { Job } from './worker.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_HISTORY = { full: path.join(HERE, 'history.jsonl'), quick: path.join(HERE, 'out', 'history-quick.jsonl') } as const;

export const HELP = `usage: npm run bench -- [options]     (or: alexnet bench [options])

Measures AlexNet at 227x227 on gpu.js headlessgl (two contexts, one per tower,
and one context, grouped), gpu.js webasm, the CPU backend, the reference, and
TensorFlow.js webgl (on the same headless GL), wasm and cpu, ONNX Runtime (node and wasm,
inference only, our exported network), and PyTorch (CPU,
float32, in a python process; not available without python3-torch): inference throughput
at batch 1 and 16, the time and GFLOP/s of every kernel of a training step, layer
by layer (at batch 1, each kernel timed to a sync), and training throughput
(forward, backward, SGD update) at batch 1 and 8. The reference and TF.js cpu run at
batch 1 only; a measurement whose single run would exceed the cap (45 s) is
measured at batch 1 or skipped, and the record says why. Warm-up runs first,
then timed runs; each figure is a median with its min-max spread, and a ratio
to every TF.js peer and to PyTorch beside it (PyTorch has no per-layer profile). Appends one record to the history and flags any
figure that dropped more than 10% against the previous record of this machine.

  --quick            a reduced run (batch 1, few repeats, forward profile), about a minute;
                     its history defaults to bench/out/history-quick.jsonl
  --report           render the history: charts in bench/report/, tables in bench/RESULTS.md,
                     and the latest figures in docs/performance.md (the latest Node record's,
                     and the latest browser record's in a block of their own)
  --import FILES     with --report: first append the records in these files (comma-separated;
                     a JSON record as the browser page downloads it, or one per line) to the
                     history, each checked, flagged against the history, skipped when the
                     history has that run already; a bad file appends nothing and exits 2
  --thorough         also the parts a subject leaves out by default (TF.js cpu's backward
                     kernels and training: their filter gradient takes minutes)
  --only IDS         measure only these subjects (comma-separated)
  --skip IDS         measure all but these subjects
  --seed N           seed for weights, inputs, labels, dropout masks (default 1)
  --history FILE     the history file to append to (or, with --report, to read)
  --no-history       print the tables but append nothing
  --kernels          also print the per-kernel tables
  --report-dir DIR   with --report: where the charts go (default bench/report)
  --results FILE     with --report: the Markdown tables (default bench/RESULTS.md)
  --docs FILE        with --report: the page whose bench blocks are rewritten (default
                     docs/performance.md, when charts and tables go to their default places)

subjects: ${NODE_SUBJECTS.map((s) => s.id).join(', ')}
measured by the page in a browser (\`npm run web\`, Bench), not here: ${BROWSER_SUBJECTS.map((s) => s.id).join(', ')}`;

export class UsageError extends Error {}

export interface Options {
  readonly plan: Plan;
  readonly report: boolean;
  readonly history: string;
  readonly appendHistory: boolean;
  readonly kernels: boolean;
  readonly reportDir?: string;
  readonly results?: string;
  readonly docs?: string;
  /** Record files to append to the history before the report. */
  readonly imports: readonly string[];
}

const subjectList = (flag: string, v: string): SubjectId[] => {
  const ids = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const bad = ids.filter((id) => !subjectById(id));
  if (ids.length === 0 || bad.length > 0) {
    throw new UsageError(`${flag} takes subject names separated by commas; ${bad.length ? `unknown: ${bad.join(', ')}; ` : ''}choose from: ${NODE_SUBJECTS.map((s) => s.id).join(', ')}`);
  }
  const browser = ids.filter((id) => subjectById(id)!.where === 'browser');
  if (browser.length > 0) {
    throw new UsageError(`${flag} ${browser.join(', ')}: browser subjects are measured by the page (\`npm run web\`, Bench), not by \`npm run bench\`; \`npm run bench -- --report --import FILE\` takes in the record it downloads`);
  }
  return ids as SubjectId[];
};

export const parseOptions = (argv: string[]): Options | 'help' => {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' }, report: { type: 'boolean' }, only: { type: 'string' }, skip: { type: 'string' },
        seed: { type: 'string' }, history: { type: 'string' }, 'no-history': { type: 'boolean' }, kernels: { type: 'boolean' },
        'report-dir': { type: 'string' }, results: { type: 'string' }, docs: { type: 'string' }, import: { type: 'string' },
        thorough: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`${msg}; see --help`);
  }
  if (values.help) return 'help';
  const base = values.quick ? QUICK : FULL;
  let subjects = base.subjects;
  if (values.only !== undefined) subjects = subjectList('--only', values.only);
  if (values.skip !== undefined) {
    const skip = subjectList('--skip', values.skip);
    subjects = subjects.filter((s) => !skip.includes(s));
  }
  if (subjects.length === 0) throw new UsageError('--only and --skip leave no subject to measure');
  let seed = base.seed;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!/^-?\d+$/.test(values.seed) || !Number.isSafeInteger(seed)) throw new UsageError(`--seed takes a whole number, got '${values.seed}'`);
  }
  if (!values.report && (values['report-dir'] !== undefined || values.results !== undefined || values.docs !== undefined)) throw new UsageError('--report-dir, --results and --docs go with --report');
  if (!values.report && values.import !== undefined) throw new UsageError('--import goes with --report: `npm run bench -- --report --import FILE`');
  const imports = values.import === undefined ? [] : values.import.split(',').map((f) => f.trim()).filter((f) => f.length > 0);
  if (values.import !== undefined && imports.length === 0) throw new UsageError('--import takes record files separated by commas');
  return {
    plan: { ...base, subjects, seed, thorough: values.thorough ?? false },
    report: values.report ?? false,
    history: path.resolve(values.history ?? (values.quick ? DEFAULT_HISTORY.quick : DEFAULT_HISTORY.full)),
    appendHistory: !values['no-history'],
    kernels: values.kernels ?? false,
    reportDir: values['report-dir'],
    results: values.results,
    docs: values.docs,
    imports,
  };
};

const which = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The command as a user typed it, for the record and README. */
const commandLine = (argv: string[]): string =>
  process.env.ALEXNET_BENCH_COMMAND
  ?? (process.env.npm_lifecycle_event === 'bench' ? `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}` : `npx tsx bench/run.ts${argv.length ? ` ${argv.join(' ')}` : ''}`);

const NOISE = [/^=+$/, /^Hi, looks like you are running TensorFlow\.js in Node\.js/];

/** Runs one subject's worker and returns its result (or a failure that says why). */
const runSubject = (id: SubjectId, plan: Plan, dir: string, paramsFile: string): Promise<SubjectResult> => {
  const def = subjectById(id)!;
  const out = path.join(dir, `${id}.json`);
  const job: Job = { subject: id, plan, out, params: paramsFile };
  const jobFile = path.join(dir, `${id}.job.json`);
  writeFileSync(jobFile, JSON.stringify(job));
  return new Promise((resolve) => {
    const env = def.webgpu ? { ...process.env, ...webgpuEnvironment() } : process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'worker.ts'), jobFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const relay = (buf: Buffer) => {
      for (const line of buf.toString().split('\n')) {
        const l = line.trimEnd();
        if (l === '' || NOISE.some((re) => re.test(l.trim()))) continue;
        process.stderr.write(`${l.length > 300 ? `${l.slice(0, 300)} ...` : l}\n`);
      }
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    let timedOut = false;
    const started = Date.now();
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, plan.subjectTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const read = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as SubjectResult) : undefined;
      // The subject's cost as the run paid it: process start and set-up included.
      const partial = read && { ...read, wallSeconds: (Date.now() - started) / 1000 };
      const why = timedOut ? `stopped after ${plan.subjectTimeoutMs / 60_000} minutes` : code !== 0 ? `the worker exited with code ${code}` : undefined;
      if (partial && !why) return resolve(partial);
      if (partial && partial.available) return resolve({ ...partial, skipped: [...partial.skipped, { what: 'the rest of this subject', reason: why! }] });
      resolve({ id, label: def.label, kind: def.kind, available: false, reason: partial?.reason ?? why ?? 'the worker wrote no result', throughput: [], skipped: [], wallSeconds: (Date.now() - started) / 1000 });
    });
  });
};

export const measure = async (o: Options, argv: string[]): Promise<BenchRecord> => {
  const started = Date.now();
  const loadStart = loadNow();
  const spec = alexnet();
  const machine = describeMachine(loadStart);
  const { commit, dirty } = gitCommit();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alexnet-bench-'));
  const subjects: SubjectResult[] = [];
  try {
    process.stderr.write(`bench: ${o.plan.mode} run of ${o.plan.subjects.length} subject(s) on ${machine.cpu} x${machine.cores}, GL: ${machine.gl ?? `none (${machine.glNote})`}\n`);
    const paramsFile = path.join(dir, 'params.f32');
    writeParamsFile(paramsFile, spec, o.plan.seed);
    for (const id of o.plan.subjects) {
      process.stderr.write(`bench: ${subjectById(id)!.label}\n`);
      subjects.push(await runSubject(id, o.plan, dir, paramsFile));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const partial = recordOf({
    date: new Date(started).toISOString(),
    commit,
    dirty,
    command: commandLine(argv),
    machine: { ...machine, load: { start: loadStart, end: loadNow() } },
    plan: o.plan,
    subjects,
    wallSeconds: (Date.now() - started) / 1000,
  });
  const record: BenchRecord = { ...partial, flags: regressions(partial, readHistory(o.history)) };
  const problems = validateRecord(record);
  if (problems.length > 0) throw new Error(`the run made an invalid record:\n  ${problems.join('\n  ')}`);
  return record;
};

export const main = async (argv: string[]): Promise<number> => {
  let o: Options | 'help';
  try {
    o = parseOptions(argv);
  } catch (e) {
    if (e instanceof UsageError) { console.error(`bench: ${e.message}`); return 2; }
    throw e;
  }
  if (o === 'help') { console.log(HELP); return 0; }
  if (o.report) {
    if (o.imports.length > 0) {
      let lines: string[];
      try {
        lines = importRecords(o.imports, o.history);
      } catch (e) {
        if (e instanceof ImportError) { console.error(`bench: ${e.message}`); return 2; }
        throw e;
      }
      for (const l of lines) console.log(`bench: ${l}`);
    }
    if (o.docs !== undefined && !existsSync(o.docs)) { console.error(`bench: --docs ${o.docs}: no such file`); return 2; }
    const { writeReport } = await import('./report.ts');
    const written = writeReport({ history: o.history, reportDir: o.reportDir, results: o.results, readme: o.docs });
    for (const f of written) console.log(`bench: wrote ${path.relative(process.cwd(), f)}`);
    return 0;
  }
  // Under xvfb even when no subject draws: the machine description names the GL renderer.
  if (!process.env.DISPLAY && !process.env.ALEXNET_BENCH_XVFB && which('xvfb-run')) {
    const r = spawnSync('xvfb-run', ['-a', '-s', '-screen 0 1280x1024x24', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...argv], {
      stdio: 'inherit',
      env: { ...process.env, ALEXNET_BENCH_XVFB: '1', ALEXNET_BENCH_COMMAND: commandLine(argv) },
    });
    return r.status ?? 1;
  }
  const record = await measure(o, argv);
  console.log(summaryText(record, o.kernels));
  console.log(`\nrun took ${Math.round(record.wallSeconds)} s`);
  if (o.appendHistory) {
    appendRecord(o.history, record);
    console.log(`bench: appended the record to ${path.relative(process.cwd(), o.history)}; \`npm run bench -- --report${o.plan.mode === 'quick' ? ' --quick' : ''}\` renders the history`);
  }
  return 0;
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { console.error(`bench: ${(e as Error).message}`); process.exitCode = 1; },
  );
}
