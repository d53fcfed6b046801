/**
 * The network phase of the kit: one training pass of a whole network (forward
 * with dropout, softmax cross-entropy, backward) on two placements from the
 * same parameters, input, labels and dropout masks, compared layer by layer:
 * each learned layer's output, its weight and bias gradients, the logits and
 * the loss, against the network tolerances of tolerance.ts (every float32
 * reduction on a value's way adds to its rtol).
 */
import { describe, type NetSpec } from '../../core/alexnet.ts';
import type { Backend, Handle, PoolParams } from '../../core/backend.ts';
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
  /** Every max-pooling input, per tower, in call order. */
  readonly poolInputs: readonly (readonly Tensor[])[];
  /** Where this (trusted) run broke near-ties as the checked run's values order them; see `runPlacement`. */
  readonly ties: readonly TieNote[];
  readonly transfers: TransferLog;
  readonly seconds: number;
}

/** Max-pooling windows of one call whose maximum is within float32 rounding of another element. */
export interface TieNote {
  readonly tower: number;
  /** The pooling call, 0 for the first pool of the network. */
  readonly call: number;
  /** Windows whose gradient the trusted run routed to the checked run's maximum instead of its own. */
  readonly windows: number;
  /** The largest gap between the two, relative to the call's largest value. */
  readonly largestGap: number;
  /** The largest difference between the two runs' pooling inputs in that call, relative likewise. */
  readonly difference: number;
}

/**
 * A view of `b` that reads back the result of every conv2d and linear call
 * (the learned layers' outputs) and every max-pooling input, in call order,
 * and that routes max-pooling gradients itself when `follow` gives the
 * checked run's pooling inputs. Handles stay `b`'s own.
 */
const tapped = (b: Backend, seen: Tensor[], pools: Tensor[], follow: readonly Tensor[] | null, tower: number, ties: TieNote[]): Backend => {
  const poolCall = new Map<Handle, number>();
  return new Proxy(b, {
    get: (target, prop, receiver) => {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'maxPool') {
        return (x: Handle, p: PoolParams) => {
          poolCall.set(x, pools.length);
          pools.push(target.download(x));
          return value.call(target, x, p);
        };
      }
      if (prop === 'maxPoolGrad' && follow) {
        return (x: Handle, dy: Handle, p: PoolParams) => {
          const call = poolCall.get(x);
          if (call === undefined || !follow[call]) return value.call(target, x, dy, p);
          const routed = routeLikeChecked(pools[call], follow[call], target.download(dy), p);
          if (routed.note.windows > 0) ties.push({ tower, call, ...routed.note });
          return target.upload(routed.dx);
        };
      }
      if (prop !== 'conv2d' && prop !== 'linear') return value.bind(target);
      return (...args: unknown[]) => {
        const h = value.apply(target, args) as Handle;
        seen.push(target.download(h));
        return h;
      };
    },
  });
};

/**
 * The gradient of max-pooling by the contract's rule (each window's dy to its
 * first maximum, overlapping windows adding up) on the trusted values `xa`,
 * except in windows where the checked values `xb` put their first maximum on
 * another element that the trusted values hold within the observed
 * difference of the two runs' inputs (twice the largest |xa - xb| of the
 * call) of their own maximum. Such a window is a near-tie that float32
 * rounding decides, and either choice is a subgradient; following the
 * checked run there keeps the comparison exact everywhere else. A checked
 * maximum farther below than the observed difference is not followed, so a
 * routing bug still shows.
 */
export const routeLikeChecked = (xa: Tensor, xb: Tensor, dy: Tensor, p: PoolParams): { dx: Tensor; note: Omit<TieNote, 'tower' | 'call'> } => {
  const [N, C, H, W] = xa.shape;
  const [, , Ho, Wo] = dy.shape;
  const a = xa.data, bv = xb.data, g = dy.data;
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - bv[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  const dx = new Float64Array(a.length);
  let windows = 0, largestGap = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        let ia = -1, ib = -1;
        for (let ky = 0; ky < p.size; ky++) {
          for (let kx = 0; kx < p.size; kx++) {
            const i = base + (oy * p.stride + ky) * W + ox * p.stride + kx;
            if (ia < 0 || a[i] > a[ia]) ia = i;
            if (ib < 0 || bv[i] > bv[ib]) ib = i;
          }
        }
        let to = ia;
        if (ib !== ia && a[ia] - a[ib] <= 2 * diff) {
          to = ib;
          windows++;
          largestGap = Math.max(largestGap, a[ia] - a[ib]);
        }
        dx[to] += g[(nc * Ho + oy) * Wo + ox];
      }
    }
  }
  const out = xa.dtype === 'float32' ? Float32Array.from(dx) : dx;
  return { dx: Tensor.trusted(xa.shape, out), note: { windows, largestGap: scale > 0 ? largestGap / scale : 0, difference: scale > 0 ? diff / scale : 0 } };
};

/**
 * One pass of `spec` on `backends`. With `followTies`, the checked run of the
 * same input (run first), this is the trusted run: where the checked run's
 * max-pooling inputs order a window's near-tie the other way than the trusted
 * values, within the observed difference of the two runs, the trusted
 * gradient goes where the checked one went (see `routeLikeChecked`), and the
 * run lists those windows in `ties`.
 */
export const runPlacement = (spec: NetSpec, params: Params, backends: readonly Backend[], input: VerifyInput, followTies?: PlacementRun): PlacementRun => {
  const seen = backends.map(() => [] as Tensor[]);
  const pools = backends.map(() => [] as Tensor[]);
  const ties: TieNote[] = [];
  if (followTies && followTies.poolInputs.length !== backends.length) throw new Error(`internal: the checked run has ${followTies.poolInputs.length} towers, the trusted ${backends.length}`);
  const net = orThrow(Network.create(spec, params, backends.map((b, t) => tapped(b, seen[t], pools[t], followTies ? followTies.poolInputs[t] : null, t, ties))));
  try {
    const t0 = performance.now();
    const g = net.gradients(input.x, input.labels, { train: input.train, rng: new Rng(input.seed).derive('verify-dropout') });
    const seconds = (performance.now() - t0) / 1000;
    const layers = spec.layers.length;
    if (seen.some((s) => s.length !== layers)) throw new Error(`internal: expected ${layers} learned-layer outputs per tower, saw ${seen.map((s) => s.length).join(' and ')}`);
    const outputs = spec.layers.map((_, i) => (seen.length === 1 ? seen[0][i] : concatHost(seen.map((s) => s[i]))));
    return { backends, loss: g.loss, logits: g.logits, grads: g.grads, outputs, poolInputs: pools, ties, transfers: [...net.transfers], seconds };
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
  /** Near-ties the trusted run broke as the checked run did (see runPlacement). */
  readonly ties: readonly TieNote[];
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
  return { rows, logits, logitsShape: a.logits.shape, loss, ties: a.ties, ok };
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
  const ties = r.ties.map((t) => `near-ties: pool call ${t.call} of tower ${t.tower}: ${t.windows} window${t.windows === 1 ? '' : 's'} where float32 rounding picked another maximum (gap ${e(t.largestGap)}, runs differ by ${e(t.difference)} of the largest value); the trusted pass routed them as the checked pass did`);
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ...tail.map(line), ...ties].join('\n');
};

