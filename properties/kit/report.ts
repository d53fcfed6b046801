/**
 * A verification's results as people and machines read them: one table a row
 * per kernel, each failure with its shrunk counterexample and the command line
 * that replays it, the whole result as JSON, and JUnit XML for CI systems.
 */
import type { KernelResult } from './run.ts';
import type { VerifyReport } from './network.ts';

export interface KernelPhase {
  /** The spec of the backend checked, and what really ran. */
  readonly spec: string;
  readonly detail: string;
  readonly results: readonly KernelResult[];
}

export interface NetworkPhase {
  readonly model: string;
  readonly placement: readonly string[];
  readonly against: readonly string[];
  readonly batch: number;
  readonly report: VerifyReport | null;
  /** When the pass itself threw. */
  readonly error?: string;
  readonly seconds: number;
}

export interface VerifyResult {
  readonly backend: string;
  readonly against: string;
  readonly oracle: string;
  readonly seed: number;
  readonly kernels: readonly KernelPhase[];
  readonly network: NetworkPhase | null;
  readonly ok: boolean;
  readonly seconds: number;
}

/** A kernel the backend does not offer (with its reason) is no failure; a missing one is. */
export const kernelOk = (r: KernelResult): boolean => r.verdict === 'pass' || r.verdict === 'not offered';
export const networkOk = (n: NetworkPhase | null): boolean => n === null || (n.report?.ok ?? false);

const fraction = (x: number): string => (!Number.isFinite(x) ? 'inf' : x === 0 ? '0' : x < 0.001 ? x.toExponential(1) : x < 1000 ? x.toPrecision(3) : x.toExponential(2));

const verdictText = (r: KernelResult): string =>
  r.verdict === 'pass' ? 'pass' : r.verdict === 'fail' ? 'FAIL' : r.verdict === 'missing' ? `missing: ${r.detail}` : r.verdict === 'not offered' ? `not offered: ${r.detail}` : `threw: ${r.detail}`;

const table = (rows: string[][]): string[] => {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (c === r.length - 1 ? 0 : r[c].length))));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
};

/** The shell words of a command line, quoted where needed. */
const shellWord = (w: string): string => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/** The command that replays exactly one failing case of one kernel. */
export const replayCommand = (spec: string, against: string, r: KernelResult): string | null => {
  if (!r.replay) return null;
  const path = r.replay.path !== undefined ? ['--replay', r.replay.path] : [];
  return ['alexnet', 'verify', '--backend', spec, '--against', against, '--kernels', r.kernel, '--seed', String(r.replay.seed), ...path, '--network', 'none']
    .map(shellWord).join(' ');
};

/** The kernel table and, under it, each failure in full. */
export const formatKernelPhase = (phase: KernelPhase, against: string): string => {
  const lines = [`kernels of ${phase.spec} (${phase.detail}):`, ''];
  lines.push(...table([
    ['kernel', 'cases', 'worst/allowed', 'seconds', 'verdict'],
    ...phase.results.map((r) => [r.kernel, String(r.cases), r.verdict === 'missing' || r.verdict === 'not offered' ? '-' : fraction(r.worstFraction), r.seconds.toFixed(1), verdictText(r)]),
  ]).map((l) => `  ${l}`));
  for (const r of phase.results.filter((x) => x.counterexample)) {
    const ce = r.counterexample!;
    lines.push('', `${r.kernel} ${r.verdict === 'fail' ? 'FAILED' : 'threw'}${ce.fixed ? ` on the fixed case ${ce.fixed}` : ` after ${r.cases} case${r.cases === 1 ? '' : 's'}${r.shrinks ? `, shrunk in ${r.shrinks} step${r.shrinks === 1 ? '' : 's'}` : ''}`}:`);
    lines.push(`  case:    ${JSON.stringify(ce.params)}`);
    lines.push(`  inputs:  ${ce.inputShapes.map((s) => `[${s.join(', ')}]`).join(' ')}`);
    lines.push(`  values:  ${ce.edge}`);
    lines.push(`  problem: ${ce.message}`);
    if (ce.worst) {
      const w = ce.worst;
      lines.push(`  worst:   output ${w.output} at [${w.index.join(', ')}]: got ${w.got}, expected ${w.want}, |error| ${w.error.toExponential(3)}, allowed ${w.allowed.toExponential(3)}`);
    }
    const replay = replayCommand(phase.spec, against, r);
    if (replay) lines.push(`  replay:  ${replay}`);
  }
  return lines.join('\n');
};

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
  // XML 1.0 has no way to write most control characters.
  .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

/** JUnit XML: a test suite per kernel phase and one for the network phase, a test case per row. */
export const toJunit = (r: VerifyResult): string => {
  const suites: string[] = [];
  for (const k of r.kernels) {
    const failures = k.results.filter((x) => x.verdict === 'fail' || x.verdict === 'missing').length;
    const errors = k.results.filter((x) => x.verdict === 'threw').length;
    const skipped = k.results.filter((x) => x.verdict === 'not offered').length;
    const cases = k.results.map((x) => {
      const open = `    <testcase classname="alexnet.verify.kernels.${escapeXml(k.spec)}" name="${escapeXml(x.kernel)}" time="${x.seconds.toFixed(3)}">`;
      if (x.verdict === 'not offered') return `${open}<skipped message="${escapeXml(`not offered: ${x.detail ?? ''}`)}"/></testcase>`;
      if (x.verdict === 'pass') return `${open}<system-out>${x.cases} cases, worst error ${fraction(x.worstFraction)} of the allowed</system-out></testcase>`;
      const body = x.counterexample
        ? [`case: ${JSON.stringify(x.counterexample.params)}`, `values: ${x.counterexample.edge}`, x.counterexample.message, replayCommand(k.spec, r.against, x) ?? ''].join('\n')
        : x.detail ?? '';
      const tag = x.verdict === 'threw' ? 'error' : 'failure';
      const msg = x.verdict === 'missing' ? `missing: ${x.detail}` : x.counterexample?.message ?? x.detail ?? x.verdict;
      return `${open}\n      <${tag} type="${x.verdict}" message="${escapeXml(msg)}">${escapeXml(body)}</${tag}>\n    </testcase>`;
    });
    const time = k.results.reduce((s, x) => s + x.seconds, 0);
    suites.push(`  <testsuite name="alexnet verify: kernels of ${escapeXml(k.spec)} against ${escapeXml(r.against)}" tests="${k.results.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`);
  }
  const n = r.network;
  if (n) {
    const name = `alexnet verify: ${n.model} on [${n.placement.join(', ')}] against [${n.against.join(', ')}]`;
    const rows = n.report
      ? [
        ...n.report.rows.map((row) => ({ name: row.name, ok: row.forward.ok && row.weight.ok && row.bias.ok, text: `output ${row.forward.maxRel.toExponential(2)}, weight gradient ${row.weight.maxRel.toExponential(2)}, bias gradient ${row.bias.maxRel.toExponential(2)} (largest relative error; rtol ${row.forwardRtol.toExponential(2)} / ${row.gradientRtol.toExponential(2)})` })),
        { name: 'logits', ok: n.report.logits.ok, text: `largest relative error ${n.report.logits.maxRel.toExponential(2)} (rtol ${n.report.logits.tol.rtol.toExponential(2)})` },
        { name: 'loss', ok: n.report.loss.ok, text: `relative error ${n.report.loss.maxRel.toExponential(2)} (rtol ${n.report.loss.tol.rtol.toExponential(2)})` },
      ]
      : [{ name: 'training pass', ok: false, text: n.error ?? 'did not run' }];
    const cases = rows.map((row) => `    <testcase classname="alexnet.verify.network.${escapeXml(n.model)}" name="${escapeXml(row.name)}">${row.ok ? `<system-out>${escapeXml(row.text)}</system-out>` : `\n      <failure type="fail" message="${escapeXml(row.text)}">${escapeXml(row.text)}</failure>\n    `}</testcase>`);
    suites.push(`  <testsuite name="${escapeXml(name)}" tests="${rows.length}" failures="${rows.filter((x) => !x.ok).length}" errors="0" time="${n.seconds.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="alexnet verify" time="${r.seconds.toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
};

/** The whole result as JSON (Infinity, which JSON lacks, as the string "Infinity"). */
export const toJson = (r: VerifyResult): string =>
  JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
