/**
 * `alexnet verify`: runs one training pass of the network (forward with
 * dropout, loss, backward) on two placements from the same parameters, input,
 * labels and dropout masks, and compares them layer by layer: each learned
 * layer's output, its weight and bias gradients, the logits and the loss, with
 * max absolute and relative error and a pass/fail verdict against the
 * tolerances of properties/tolerance.ts. Default: the reference backend on two
 * towers against gpu.js on two contexts, the check to run first on a new GPU
 * kernel. Exit code 0 when everything agrees, 1 when something does not.
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { describe, type LayerInfo, MODELS, modelByName, type NetSpec } from '../../core/alexnet.ts';
import type { Backend, Handle } from '../../core/backend.ts';
import { argumentError, orThrow } from '../../core/errors.ts';
import { Network } from '../../core/net.ts';
import { biasName, initParams, type Params, weightName } from '../../core/params.ts';
import { Rng } from '../../core/rng.ts';
import { shapeString, Tensor } from '../../core/tensor.ts';
import type { TransferLog } from '../../core/transfer.ts';
import { concat as hostConcat } from '../../reference/plumbing.ts';
import { createReferenceBackend } from '../../reference/index.ts';
import { createGpuBackend, GPU_MODES, type GpuBackend, type GpuModeRequest, isGpuBackend } from '../../backends/gpujs/index.ts';
import { compare, type Comparison, maxAbsOf, networkTolerances, scaled } from '../../properties/tolerance.ts';
import type { Command } from '../command.ts';

// ---- the inputs of a verification run ----------------------------------------------

/**
 * Parameters for comparing backends. 'scaled' (the default) draws every weight
 * from N(0, 2 / fan-in) and every bias from N(0, 0.1^2), so activations keep an
 * O(1) spread through all eight layers. The paper's initialisation ('paper':
 * N(0, 0.01^2) weights, biases of 1) leaves conv2..conv5 outputs within a few
 * parts in 10^4 of their bias, so a max-pool window holds values that float32
 * rounding alone can reorder; a reordered window sends its gradient to another
 * input. That is a discontinuity of max-pooling, not an error of either
 * backend, but it makes elementwise gradient comparisons meaningless.
 */
export type InitKind = 'scaled' | 'paper';

export const verificationParams = (spec: NetSpec, seed: number, init: InitKind = 'scaled'): Params => {
  const paper = initParams(spec, seed);
  if (init === 'paper') return paper;
  const rng = new Rng(seed).derive('verify-bias');
  return new Map([...paper].map(([name, t]) => {
    if (t.shape.length === 1) return [name, t.map(() => rng.normal(0, 0.1))];
    const fanIn = t.size / t.shape[0];
    const k = Math.sqrt(2 / fanIn) / spec.initStd;
    return [name, t.map((v) => v * k)];
  }));
};

export interface VerifyInput {
  readonly x: Tensor;
  readonly labels: Int32Array;
  /** Training pass (dropout on, masks from `seed`) or inference pass. */
  readonly train: boolean;
  readonly seed: number;
}

export const verificationInput = (spec: NetSpec, batch: number, seed: number, train = true): VerifyInput => {
  const rng = new Rng(seed).derive('verify-input');
  const [C, H, W] = spec.input;
  const x = Tensor.trusted([batch, C, H, W], Float32Array.from({ length: batch * C * H * W }, () => rng.normal()));
  const labels = Int32Array.from({ length: batch }, () => rng.int(spec.classes));
  return { x, labels, train, seed };
};

// ---- one placement's pass ---------------------------------------------------------------

export interface PlacementRun {
  readonly backends: readonly Backend[];
  readonly loss: number;
  readonly logits: Tensor;
  readonly grads: Params;
  /** Each learned layer's output (conv or fc result, towers joined along axis 1). */
  readonly outputs: readonly Tensor[];
  readonly transfers: TransferLog;
  readonly seconds: number;
}

/**
 * A view of `b` that reads back the result of every conv2d and linear call
 * (the learned layers' outputs), in call order. Handles stay `b`'s own.
 */
const tapped = (b: Backend, seen: Tensor[]): Backend =>
  new Proxy(b, {
    get: (target, prop, receiver) => {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== 'conv2d' && prop !== 'linear') return value.bind(target);
      return (...args: unknown[]) => {
        const h = value.apply(target, args) as Handle;
        seen.push(target.download(h));
        return h;
      };
    },
  });

export const runPlacement = (spec: NetSpec, params: Params, backends: readonly Backend[], input: VerifyInput): PlacementRun => {
  const seen = backends.map(() => [] as Tensor[]);
  const net = orThrow(Network.create(spec, params, backends.map((b, t) => tapped(b, seen[t]))));
  try {
    const t0 = performance.now();
    const g = net.gradients(input.x, input.labels, { train: input.train, rng: new Rng(input.seed).derive('verify-dropout') });
    const seconds = (performance.now() - t0) / 1000;
    const layers = spec.layers.length;
    if (seen.some((s) => s.length !== layers)) throw new Error(`internal: expected ${layers} learned-layer outputs per tower, saw ${seen.map((s) => s.length).join(' and ')}`);
    const outputs = spec.layers.map((_, i) => (seen.length === 1 ? seen[0][i] : hostConcat(seen.map((s) => s[i]))));
    return { backends, loss: g.loss, logits: g.logits, grads: g.grads, outputs, transfers: [...net.transfers], seconds };
  } finally {
    net.dispose();
  }
};

// ---- comparing two runs -----------------------------------------------------------------

export interface LayerRow {
  readonly name: string;
  readonly outShape: readonly number[];
  readonly forward: Comparison;
  readonly weight: Comparison;
  readonly bias: Comparison;
  readonly forwardRtol: number;
  readonly gradientRtol: number;
}

export interface VerifyReport {
  readonly rows: readonly LayerRow[];
  readonly logits: Comparison;
  readonly logitsShape: readonly number[];
  readonly loss: Comparison;
  readonly ok: boolean;
}

/** Compares run `b` against run `a` (the one trusted more) under the network tolerances. */
export const compareRuns = (spec: NetSpec, batch: number, a: PlacementRun, b: PlacementRun): VerifyReport => {
  const tol = networkTolerances(spec, batch);
  const cmp = (x: Tensor, y: Tensor, rtol: number) => compare(x.data, y.data, scaled(rtol, maxAbsOf(y)));
  const rows = spec.layers.map((l, i): LayerRow => ({
    name: l.name,
    outShape: a.outputs[i].shape,
    forward: cmp(b.outputs[i], a.outputs[i], tol.forward(i)),
    weight: cmp(b.grads.get(weightName(l.name))!, a.grads.get(weightName(l.name))!, tol.gradient(i)),
    bias: cmp(b.grads.get(biasName(l.name))!, a.grads.get(biasName(l.name))!, tol.gradient(i)),
    forwardRtol: tol.forward(i),
    gradientRtol: tol.gradient(i),
  }));
  const logits = cmp(b.logits, a.logits, tol.logits);
  const loss = compare([b.loss], [a.loss], scaled(tol.loss, Math.abs(a.loss)));
  const ok = logits.ok && loss.ok && rows.every((r) => r.forward.ok && r.weight.ok && r.bias.ok);
  return { rows, logits, logitsShape: a.logits.shape, loss, ok };
};

// ---- printing ----------------------------------------------------------------------------

const e = (x: number) => (Number.isFinite(x) ? x.toExponential(1) : String(x));
const dims = (s: readonly number[]) => s.slice(1).join('x');

export const describePlacement = (bs: readonly Backend[]): string =>
  `[${bs.map((b) => (isGpuBackend(b) ? `${b.name} (mode ${b.mode})` : b.name)).join(', ')}]`;

export const transferSummary = (log: TransferLog): string => {
  if (log.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const r of log) counts.set(`${r.direction} ${r.layer}`, (counts.get(`${r.direction} ${r.layer}`) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} x${n}`).join(', ');
};

export const formatReport = (r: VerifyReport): string => {
  const header = ['layer', 'output', 'fwd abs', 'fwd rel', 'w-grad abs', 'w-grad rel', 'b-grad abs', 'b-grad rel', 'rtol fwd/grad', 'verdict'];
  const body = r.rows.map((row) => [
    row.name,
    dims(row.outShape),
    e(row.forward.maxAbs), e(row.forward.maxRel),
    e(row.weight.maxAbs), e(row.weight.maxRel),
    e(row.bias.maxAbs), e(row.bias.maxRel),
    `${e(row.forwardRtol)}/${e(row.gradientRtol)}`,
    row.forward.ok && row.weight.ok && row.bias.ok ? 'pass' : 'FAIL',
  ]);
  const tail = [
    ['logits', dims(r.logitsShape), e(r.logits.maxAbs), e(r.logits.maxRel), '', '', '', '', e(r.logits.tol.rtol), r.logits.ok ? 'pass' : 'FAIL'],
    ['loss', '', e(r.loss.maxAbs), e(r.loss.maxRel), '', '', '', '', e(r.loss.tol.rtol), r.loss.ok ? 'pass' : 'FAIL'],
  ];
  const all = [header, ...body, ...tail];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ...tail.map(line)].join('\n');
};

// ---- the command ----------------------------------------------------------------------------

type Slot = 'reference' | 'gpu';

const parsePlacement = (flag: string, text: string): Slot[] => {
  const slots = text.split(',').map((s) => s.trim());
  if (slots.length < 1 || slots.length > 2 || slots.some((s) => s !== 'reference' && s !== 'gpu')) {
    return orThrow(E.left(argumentError(`${flag} '${text}' is not a placement; give one or two of reference, gpu separated by a comma (e.g. gpu,gpu or reference,gpu)`)));
  }
  return slots as Slot[];
};

const wholeNumber = (flag: string, text: string, min: number): number => {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min)) return orThrow(E.left(argumentError(`${flag} must be a whole number of at least ${min}, got '${text}'`)));
  return n;
};

export const command: Command = {
  summary: 'compare gpu.js with the reference layer by layer (forward and gradients), pass/fail',
  help: [
    'usage: alexnet verify [--model NAME] [--placement P] [--against P] [--mode MODE] [--batch N] [--seed S] [--init scaled|paper] [--no-dropout]',
    '',
    'Runs one training pass (forward with dropout, softmax cross-entropy, backward) of the',
    'network on two placements from the same parameters, input, labels and dropout masks, and',
    'prints per learned layer the max absolute and relative error of its output and of its',
    'weight and bias gradients, then the logits and the loss, each against the float32',
    'tolerance of properties/tolerance.ts (rtol grows with every reduction on the way;',
    'atol = rtol x the tensor\'s largest value). Exit code 0 when all pass, 1 otherwise.',
    '',
    '  --model NAME     one of: ' + Object.keys(MODELS).join(', ') + ' (default alexnet)',
    '  --placement P    the placement checked: one or two of reference, gpu (default gpu,gpu:',
    '                   two gpu.js contexts, one per tower; "gpu" alone runs the grouped network',
    '                   on one context; "reference,gpu" mixes them)',
    '  --against P      the placement trusted (default reference,reference)',
    '  --mode MODE      gpu.js mode: auto (default; headless GL where it works), ' + GPU_MODES.join(', '),
    '  --batch N        images per pass (default 2)',
    '  --seed S         seed of parameters, input, labels and dropout masks (default 1)',
    '  --init KIND      scaled (default: N(0, 2/fan-in) weights, N(0, 0.1^2) biases) or paper',
    '                   (N(0, 0.01^2), biases 1; its bias-dominated activations put near-ties',
    '                   in max-pool windows that float32 rounding reorders, so gradients can',
    '                   differ by far more than rounding)',
    '  --no-dropout     an inference-mode pass (dropout off)',
    '',
    'The full 227x227 network at batch 2 takes a minute or two on a CPU-rendered GL.',
  ].join('\n'),
  run: async (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string', default: 'alexnet' },
        placement: { type: 'string', default: 'gpu,gpu' },
        against: { type: 'string', default: 'reference,reference' },
        mode: { type: 'string', default: 'auto' },
        batch: { type: 'string', default: '2' },
        seed: { type: 'string', default: '1' },
        init: { type: 'string', default: 'scaled' },
        'no-dropout': { type: 'boolean', default: false },
      },
      strict: true,
    });
    const spec = orThrow(modelByName(values.model!));
    const placement = parsePlacement('--placement', values.placement!);
    const against = parsePlacement('--against', values.against!);
    const mode = values.mode as GpuModeRequest;
    if (mode !== 'auto' && !GPU_MODES.includes(mode)) orThrow(E.left(argumentError(`--mode must be auto or one of ${GPU_MODES.join(', ')}, got '${values.mode}'`)));
    const batch = wholeNumber('--batch', values.batch!, 1);
    const seed = wholeNumber('--seed', values.seed!, 0);
    if (values.init !== 'scaled' && values.init !== 'paper') orThrow(E.left(argumentError(`--init must be scaled or paper, got '${values.init}'`)));
    const init = values.init as InitKind;
    const rows: readonly LayerInfo[] = orThrow(describe(spec));

    const made: GpuBackend[] = [];
    const build = (slots: Slot[], tag: string): Backend[] =>
      slots.map((s, t) => {
        if (s === 'reference') return createReferenceBackend(`reference ${tag}${t}`);
        const b = createGpuBackend({ mode });
        made.push(b);
        return b;
      });
    try {
      const params = verificationParams(spec, seed, init);
      const input = verificationInput(spec, batch, seed, !values['no-dropout']);
      const A = build(against, 'A');
      const B = build(placement, 'B');
      console.log(`alexnet verify: ${spec.name}, input ${shapeString(input.x.shape)}, ${rows.length} learned layers, seed ${seed}, ${init} init, ${input.train ? 'training pass (dropout on)' : 'inference pass'}`);
      console.log(`  A (trusted): ${describePlacement(A)}`);
      console.log(`  B (checked): ${describePlacement(B)}`);
      const modes = [...new Set(made.map((b) => b.mode))];
      if (made.length > 0) console.log(`  gpu.js mode: ${modes.join(', ')}${made[0].passedOver ? ` (auto passed over ${made[0].passedOver})` : ''}`);
      const a = runPlacement(spec, params, A, input);
      console.log(`  A ran in ${a.seconds.toFixed(1)} s; transfers: ${transferSummary(a.transfers)}`);
      const b = runPlacement(spec, params, B, input);
      console.log(`  B ran in ${b.seconds.toFixed(1)} s; transfers: ${transferSummary(b.transfers)}`);
      const report = compareRuns(spec, batch, a, b);
      console.log('');
      console.log(formatReport(report));
      console.log('');
      console.log('rel = |A - B| / (max|A| + |A|) elementwise; a value passes when rel <= rtol.');
      console.log(report.ok ? `verdict: PASS (B agrees with A within float32 tolerance; gpu.js mode ${modes.join(', ') || 'none'})` : 'verdict: FAIL (see the rows marked FAIL)');
      return report.ok ? 0 : 1;
    } finally {
      for (const b of made) b.destroy();
    }
  },
};
