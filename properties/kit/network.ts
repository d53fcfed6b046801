/**
 * The network phase of the kit: one training pass of a whole network (forward
 * with dropout, softmax cross-entropy, backward) on two placements from the
 * same parameters, input, labels and dropout masks, compared layer by layer:
 * each learned layer's output, its weight and bias gradients, the logits and
 * the loss, against the network tolerances of tolerance.ts (every float32
 * reduction on a value's way adds to its rtol).
 */
import { describe, type NetSpec } from '../../core/alexnet.ts';
import type { Backend, Handle } from '../../core/backend.ts';
import { orThrow } from '../../core/errors.ts';
import { concatHost } from '../../core/host.ts';
import { Network } from '../../core/net.ts';
import { biasName, initParams, type Params, weightName } from '../../core/params.ts';
import { Rng } from '../../core/rng.ts';
import { Tensor } from '../../core/tensor.ts';
import type { TransferLog } from '../../core/transfer.ts';
import { compare, type Comparison, maxAbsOf, networkTolerances, scaled } from './tolerance.ts';

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
    const outputs = spec.layers.map((_, i) => (seen.length === 1 ? seen[0][i] : concatHost(seen.map((s) => s[i]))));
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
  `[${bs.map((b) => ('mode' in b && typeof b.mode === 'string' ? `${b.name} (mode ${b.mode})` : b.name)).join(', ')}]`;

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

