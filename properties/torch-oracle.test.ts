/**
 * PyTorch as an outside oracle: the network built again in PyTorch from the
 * layer table alone (properties/oracle/torch_alexnet.py, float64, groups of 2,
 * LRN within each tower with PyTorch's alpha/n converted from the paper's
 * alpha), fed the same parameters, input, labels and dropout masks as ours.
 *
 * - The reference agrees with it to 1e-10 of each tensor's largest value: the
 *   logits, the loss, every parameter's gradient and, for alexnet-mini, every
 *   parameter after two steps of the paper's update (momentum included). A misreading shared by all
 *   our backends (a formula, the table, the update) fails here.
 * - The cpu backend and gpu.js (headless GL, where it runs) agree with it
 *   within the float32 network tolerances of the kit.
 *
 * Without python3 and torch (Debian's python3-torch) the tests are skipped
 * with the reason, never passed; with ALEXNET_REQUIRE_TORCH=1 (CI) they fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnet, alexnetMini, type NetSpec } from '../core/alexnet.ts';
import type { Backend } from '../core/backend.ts';
import { decodeSafetensors, encodeSafetensors } from '../core/checkpoint.ts';
import { orThrow } from '../core/errors.ts';
import { dropoutMasks, Network } from '../core/net.ts';
import { biasName, type Params, weightName } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import { PAPER_SGD } from '../core/train/schedule.ts';
import { createCpuBackend } from '../backends/cpu/index.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { verificationInput, verificationParams } from './kit/network.ts';
import { compare, maxAbsOf, networkTolerances, scaled, U32 } from './kit/tolerance.ts';
import { gpuBackend, planFor } from './gl.ts';

const SCRIPT = resolve(import.meta.dirname, 'oracle/torch_alexnet.py');

/** The first python that imports torch, or why there is none. */
const findTorch = (): { python: string; version: string } | { reason: string } => {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return { reason: 'no python3 here imports torch (install Debian\'s python3-torch: apt-get install python3-torch)' };
};
const torch = findTorch();

const dir = mkdtempSync(join(tmpdir(), 'alexnet-torch-'));
/** Update steps compared (on one batch): from the second on, the momentum term counts. */
const STEPS = 2;

interface OracleRun {
  readonly logits: Tensor;
  readonly loss: number;
  readonly grads: Params;
  readonly updated: Params | null;
}

/** Runs the PyTorch network on these parameters, input, labels and masks. */
const runTorch = (spec: NetSpec, params: Params, x: Tensor, labels: Int32Array, masks: ReadonlyMap<string, Tensor>, update: boolean): OracleRun => {
  if (!('python' in torch)) throw new Error(torch.reason);
  const src = join(dir, `${spec.name}-in.safetensors`);
  const dst = join(dir, `${spec.name}-out.safetensors`);
  const tensors = new Map<string, Tensor>([...params, ['x', x], ['labels', Tensor.trusted([labels.length], Float64Array.from(labels))]]);
  for (const [layer, m] of masks) tensors.set(`mask.${layer}`, m);
  writeFileSync(src, encodeSafetensors(tensors, { spec: JSON.stringify(spec), sgd: JSON.stringify(PAPER_SGD), steps: update ? String(STEPS) : '0' }));
  const r = spawnSync(torch.python, [SCRIPT, src, dst], { encoding: 'utf8', maxBuffer: 1 << 24 });
  assert.is(r.status, 0, `the PyTorch oracle failed:\n${r.stderr}`);
  const out = orThrow(decodeSafetensors(readFileSync(dst), dst)).tensors;
  const pick = (prefix: string): Params => new Map([...out].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  rmSync(src);
  rmSync(dst);
  return { logits: out.get('logits')!, loss: out.get('loss')!.data[0], grads: pick('grad.'), updated: update ? pick('updated.') : null };
};

/** Our run on one placement: the gradients of one pass, then the parameters after one update. */
const runOurs = (spec: NetSpec, params: Params, placement: Backend[], x: Tensor, labels: Int32Array, masks: ReadonlyMap<string, Tensor>, update: boolean) => {
  const net = orThrow(Network.create(spec, params, placement));
  try {
    const g = net.gradients(x, labels, { train: true, masks });
    if (!update) return { ...g, updated: null };
    for (let step = 0; step < STEPS; step++) net.trainStep(x, labels, PAPER_SGD, { masks });
    return { ...g, updated: net.parameters() };
  } finally {
    net.dispose();
  }
};

const worstLines: string[] = [];

/** Largest |ours - torch| over the largest |torch|, per tensor; all must be at most `rel`. */
const closeTo = (what: string, ours: ReturnType<typeof runOurs>, t: OracleRun, rel: number): void => {
  const pairs: [string, Tensor, Tensor][] = [
    ['logits', ours.logits, t.logits],
    ['loss', Tensor.trusted([1], Float64Array.of(ours.loss)), Tensor.trusted([1], Float64Array.of(t.loss))],
    ...[...t.grads].map(([k, v]): [string, Tensor, Tensor] => [`grad ${k}`, ours.grads.get(k)!, v]),
    ...(t.updated ? [...t.updated].map(([k, v]): [string, Tensor, Tensor] => [`updated ${k}`, ours.updated!.get(k)!, v]) : []),
  ];
  let worst = { name: '', e: 0 };
  const each: string[] = [];
  for (const [name, a, b] of pairs) {
    assert.equal([...a.shape], [...b.shape], `${what} ${name}: shape`);
    let d = 0;
    for (let i = 0; i < a.size; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
    const e = d / Math.max(maxAbsOf(b), Number.MIN_VALUE);
    if (e > worst.e) worst = { name, e };
    each.push(`${name} ${e.toExponential(1)}`);
    assert.ok(e <= rel, `${what} ${name}: max |ours - PyTorch| / max |PyTorch| = ${e.toExponential(2)} > ${rel}`);
  }
  worstLines.push(`${what}: worst ${worst.name} at ${worst.e.toExponential(2)} of its largest value; per tensor: ${each.join(', ')}`);
};

/** A float32 placement against PyTorch under the kit's network tolerances. */
const withinFloat32 = (what: string, spec: NetSpec, batch: number, ours: ReturnType<typeof runOurs>, t: OracleRun): void => {
  const tol = networkTolerances(spec, batch);
  const check = (name: string, a: Tensor, b: Tensor, rtol: number) => {
    const r = compare(a.data, b.data, scaled(rtol, maxAbsOf(b)));
    assert.ok(r.ok, `${what} ${name}: at ${r.worstAt} ours ${a.data[r.worstAt]}, PyTorch ${b.data[r.worstAt]}: ${r.worstRatio.toFixed(2)}x the float32 tolerance (rtol ${rtol.toExponential(2)})`);
    return r.worstRatio;
  };
  const each: string[] = [];
  const note = (name: string, ratio: number) => { each.push(`${name} ${(100 * ratio).toFixed(1)}%`); return ratio; };
  let worst = { name: 'logits', ratio: note('logits', check('logits', ours.logits, t.logits, tol.logits)) };
  const lossRatio = note('loss', check('loss', Tensor.trusted([1], Float64Array.of(ours.loss)), Tensor.trusted([1], Float64Array.of(t.loss)), tol.loss));
  if (lossRatio > worst.ratio) worst = { name: 'loss', ratio: lossRatio };
  spec.layers.forEach((l, i) => {
    for (const n of [weightName(l.name), biasName(l.name)]) {
      const ratio = note(`grad ${n}`, check(`grad ${n}`, ours.grads.get(n)!, t.grads.get(n)!, tol.gradient(i)));
      if (ratio > worst.ratio) worst = { name: `grad ${n}`, ratio };
      if (t.updated) {
        // Each step adds v = momentum v - lr (g + weightDecay w): the gradients' error times lr
        // (the momentum adds the first step's again), on top of rounding w + v once a step.
        const g = t.grads.get(n)!;
        const w = t.updated.get(n)!;
        const atol = (1 + PAPER_SGD.momentum + 1) * PAPER_SGD.lr * tol.gradient(i) * maxAbsOf(g) + 8 * U32 * 2 * STEPS * maxAbsOf(w);
        const r = compare(ours.updated!.get(n)!.data, w.data, { atol, rtol: 8 * U32 * 2 });
        assert.ok(r.ok, `${what} updated ${n}: ${r.worstRatio.toFixed(2)}x the tolerance`);
      }
    }
  });
  worstLines.push(`${what}: worst ${worst.name} at ${(100 * worst.ratio).toFixed(1)}% of its float32 tolerance; per tensor: ${each.join(', ')}`);
};

const S = suite('PyTorch, from the table alone, computes what our backends compute');
/** CI sets ALEXNET_REQUIRE_TORCH=1: there a missing PyTorch fails the tests instead of skipping them. */
const REQUIRED = process.env.ALEXNET_REQUIRE_TORCH === '1';
const register = (name: string, fn: () => void) => {
  if ('python' in torch || REQUIRED) S(name, fn);
  else {
    console.log(`  skipped: ${name}: ${torch.reason}`);
    S.skip(name, fn);
  }
};

for (const { spec, batch, update } of [
  { spec: alexnetMini(), batch: 4, update: true },
  { spec: alexnet(), batch: 2, update: false },
]) {
  const what = `${spec.name} at batch ${batch}`;
  let fixture: { params: Params; x: Tensor; labels: Int32Array; masks: Map<string, Tensor>; t: OracleRun } | undefined;
  const made = () => {
    if (!fixture) {
      const params = verificationParams(spec, 11);
      const { x, labels } = verificationInput(spec, batch, 11);
      const masks = dropoutMasks(spec, batch, new Rng(11));
      fixture = { params, x, labels, masks, t: runTorch(spec, params, x, labels, masks, update) };
    }
    return fixture;
  };
  register(`${what}: the reference's logits, loss, gradients${update ? ' and updated parameters' : ''} equal PyTorch's to 1e-10`, () => {
    const f = made();
    // The reference keeps its inputs' dtype between kernels: float64 throughout, as PyTorch here.
    const f64 = <K>(m: ReadonlyMap<K, Tensor>) => new Map([...m].map(([k, t]) => [k, t.as('float64')]));
    const ours = runOurs(spec, f64(f.params), [createReferenceBackend('reference 0'), createReferenceBackend('reference 1')], f.x.as('float64'), f.labels, f64(f.masks), update);
    closeTo(`${what}, reference (two towers)`, ours, f.t, 1e-10);
  });
  register(`${what}: the cpu backend agrees with PyTorch within float32 tolerance`, () => {
    const f = made();
    const cpu = createCpuBackend('cpu');
    withinFloat32(`${what}, cpu (grouped)`, spec, batch, runOurs(spec, f.params, [cpu], f.x, f.labels, f.masks, update), f.t);
  });
  if (planFor('headlessgl').run) {
    register(`${what}: gpu.js on headless GL, two contexts, agrees with PyTorch within float32 tolerance`, () => {
      const f = made();
      const bs = [gpuBackend('headlessgl', 'gpu.js #0'), gpuBackend('headlessgl', 'gpu.js #1')];
      try {
        withinFloat32(`${what}, gpu.js ${bs[0].mode} (two contexts)`, spec, batch, runOurs(spec, f.params, bs, f.x, f.labels, f.masks, update), f.t);
      } finally {
        for (const b of bs) b.destroy();
      }
    });
  }
}

S.after(() => {
  if ('python' in torch) console.log(`  PyTorch ${torch.version} (${torch.python}):\n${worstLines.map((l) => `    ${l}`).join('\n')}`);
  rmSync(dir, { recursive: true, force: true });
});

S.run();
