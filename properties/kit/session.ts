/**
 * One verification as `alexnet verify` runs it and prints it, on backends
 * already made: the kernel phase on each distinct subject, then one pass of a
 * whole network compared layer by layer. Shared by the CLI
 * (cli/commands/verify.ts) and the page (web/), so both print the same
 * tables and reach the same verdict; `print` gets the report line by line and
 * `progress` one line per finished kernel.
 */
import type { NetSpec } from '../../core/alexnet.ts';
import type { Backend } from '../../core/backend.ts';
import { shapeString } from '../../core/tensor.ts';
import { KERNELS, type KernelName } from './kernels.ts';
import { compareRuns, describePlacement, formatReport, type InitKind, runPlacement, transferSummary, verificationInput, verificationParams } from './network.ts';
import { formatKernelPhase, type KernelPhase, kernelOk, type NetworkPhase, networkOk, type VerifyResult } from './report.ts';
import { type KernelResult, type NotOffered, verifyKernels } from './run.ts';

/** A backend with the spec it was made from and what really runs (see specs.ts Made). */
export interface Subject {
  readonly spec: string;
  readonly backend: Backend;
  readonly detail: string;
}

export interface SessionOptions {
  /** The checked placement: one backend, or two for the towers. */
  readonly subjects: readonly Subject[];
  readonly oracle: Subject;
  /** The trusted placement's other tower, when the checked one has two (made only when the network phase runs). */
  readonly oracleTower?: () => Promise<Backend>;
  /** The oracle placement's specs, as `--against` gives them. */
  readonly against: readonly string[];
  readonly kernels: readonly KernelName[];
  readonly seed: number;
  readonly replay?: string;
  readonly cases?: number;
  readonly scale?: number;
  /** The network phase's network; null for none. */
  readonly network: NetSpec | null;
  readonly batch: number;
  readonly init: InitKind;
  readonly train: boolean;
  readonly print: (line: string) => void;
  readonly progress?: (line: string, r: KernelResult) => void;
  /** Awaited between phases (a page repaints). */
  readonly pause?: () => Promise<void>;
}

export const verifySession = async (o: SessionOptions): Promise<VerifyResult> => {
  const { print } = o;
  const placement = o.subjects.map((s) => s.spec);
  const against = o.against.join(',');
  const t0 = performance.now();
  print(`alexnet verify: ${placement.join(',')} against ${against}; kernels: ${o.kernels.length === KERNELS.length ? 'all' : o.kernels.length === 0 ? 'none' : o.kernels.join(', ')}; seed ${o.seed}`);
  o.subjects.forEach((m, t) => print(`  ${placement.length === 2 ? `tower ${t}` : 'checked'}: ${m.detail}`));
  print(`  oracle: ${o.oracle.detail}`);

  const phases: KernelPhase[] = [];
  for (const [i, subject] of o.subjects.entries()) {
    if (placement.indexOf(placement[i]) !== i || o.kernels.length === 0) continue; // each distinct spec once
    print('');
    const results = verifyKernels(subject.backend, o.oracle.backend, {
      kernels: o.kernels, seed: o.seed, replay: o.replay, cases: o.cases, scale: o.scale,
      onKernel: (r) => o.progress?.(`${subject.spec} ${r.kernel}: ${r.verdict} (${r.cases} cases, ${r.seconds.toFixed(1)} s)`, r),
    });
    const phase = { spec: subject.spec, detail: subject.detail, results };
    phases.push(phase);
    for (const l of formatKernelPhase(phase, against).split('\n')) print(l);
    await o.pause?.();
  }

  let net: NetworkPhase | null = null;
  const spec = o.network;
  // A training pass needs every kernel; a backend that declines some (a runtime without gradients) has none to check.
  const declined = o.subjects.flatMap((m) => Object.keys((m.backend as Backend & NotOffered).notOffered ?? {}).map((k) => `${m.spec} ${k}`));
  if (spec && o.replay === undefined && declined.length > 0) {
    print('');
    print(`network: no ${spec.name} training pass: it needs kernels the backend does not offer (${declined.join(', ')})`);
  } else if (spec && o.replay === undefined) {
    const againstPlacement = o.against.length === placement.length ? [...o.against] : placement.map(() => o.against[0]);
    // Tower 0 of the trusted placement is the kernel phase's oracle itself.
    const A = [o.oracle.backend, ...(placement.length === 2 ? [await o.oracleTower!()] : [])];
    const B = o.subjects.map((m) => m.backend);
    const params = verificationParams(spec, o.seed >>> 0, o.init);
    const input = verificationInput(spec, o.batch, o.seed >>> 0, o.train);
    print('');
    print(`network: ${spec.name}, input ${shapeString(input.x.shape)}, ${o.init} init, ${input.train ? 'training pass (dropout on)' : 'inference pass'}`);
    print(`  A (trusted): ${describePlacement(A)}`);
    print(`  B (checked): ${describePlacement(B)}`);
    const n0 = performance.now();
    try {
      // The checked pass first: the trusted pass breaks the near-ties of max-pooling as it did (see runPlacement).
      const b = runPlacement(spec, params, B, input);
      print(`  B ran in ${b.seconds.toFixed(1)} s; transfers: ${transferSummary(b.transfers)}`);
      await o.pause?.();
      const a = runPlacement(spec, params, A, input, b);
      print(`  A ran in ${a.seconds.toFixed(1)} s; transfers: ${transferSummary(a.transfers)}`);
      const report = compareRuns(spec, o.batch, a, b);
      print('');
      for (const l of formatReport(report).split('\n')) print(l);
      print('rel = |A - B| / (max|A| + |A|) elementwise; a value passes when rel <= rtol.');
      net = { model: spec.name, placement, against: againstPlacement, batch: o.batch, report, seconds: (performance.now() - n0) / 1000 };
    } catch (e) {
      const error = (e as Error).message.split('\n')[0];
      print(`  the training pass threw: ${error}`);
      net = { model: spec.name, placement, against: againstPlacement, batch: o.batch, report: null, error, seconds: (performance.now() - n0) / 1000 };
    }
  }

  const bad = phases.flatMap((p) => p.results.filter((r) => !kernelOk(r)).map((r) => `${p.spec} ${r.kernel}`));
  const ok = bad.length === 0 && networkOk(net);
  const result: VerifyResult = {
    backend: placement.join(','), against, oracle: o.oracle.detail, seed: o.seed, kernels: phases, network: net, ok,
    seconds: (performance.now() - t0) / 1000,
  };
  print('');
  print(verdictLine(result));
  return result;
};

/** The last line of a verification: PASS with what agreed, or FAIL with what did not. */
export const verdictLine = (r: VerifyResult): string => {
  const kernelCount = r.kernels.reduce((s, p) => s + p.results.filter((x) => x.verdict !== 'not offered').length, 0);
  const declined = r.kernels.reduce((s, p) => s + p.results.filter((x) => x.verdict === 'not offered').length, 0);
  if (r.ok) return `verdict: PASS (${kernelCount} kernel checks${r.network ? ` and the ${r.network.model} training pass` : ''} agree with ${r.against} within float32 tolerance${declined ? `; ${declined} not offered by the backend` : ''}; ${r.seconds.toFixed(0)} s)`;
  const bad = r.kernels.flatMap((p) => p.results.filter((x) => !kernelOk(x)).map((x) => `${p.spec} ${x.kernel}`));
  return `verdict: FAIL (${[...bad, ...(networkOk(r.network) ? [] : [`the ${r.network!.model} training pass`])].join(', ')})`;
};
