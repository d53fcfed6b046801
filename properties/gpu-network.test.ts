/**
 * The whole network on gpu.js: the full 227x227 AlexNet at batch 2, one
 * training pass (dropout on, masks from a fixed seed), compared layer by layer
 * with the reference (the same comparison `alexnet verify` prints):
 *
 * - [gpu0, gpu1] (two gpu.js contexts, one per tower) gives the reference's
 *   layer outputs, logits, loss and every parameter's gradient;
 * - so does the mixed placement [reference, gpu1];
 * - one gpu.js context running the grouped network agrees with two contexts
 *   (these two on GL only, to keep the suite short);
 * - the towers exchange data only at conv3, fc6, fc7 and fc8, the layers that
 *   read both towers, through the explicit transfer: counted over one forward
 *   and one backward pass.
 *
 * Parameters are `verificationParams` ('scaled'): see kit/network.ts for
 * why the paper's initialisation cannot be compared elementwise.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { alexnet } from '../core/alexnet.ts';
import type { Backend } from '../core/backend.ts';
import type { TransferLog } from '../core/transfer.ts';
import { createReferenceBackend } from '../reference/index.ts';
import type { GpuBackend, GpuMode } from '../backends/gpujs/index.ts';
import { compareRuns, formatReport, type PlacementRun, runPlacement, transferSummary, verificationInput, verificationParams } from './kit/network.ts';
import { gpuBackend, gpuTest, planFor, PROPERTY_MODES, report } from './gl.ts';

const SEED = 7;
const BATCH = 2;
const spec = alexnet();
// Made on first use, so a run whose GPU tests are all skipped does not pay for them.
let made: { params: ReturnType<typeof verificationParams>; input: ReturnType<typeof verificationInput> } | undefined;
const fixture = () => (made ??= { params: verificationParams(spec, SEED), input: verificationInput(spec, BATCH, SEED) });

let trusted: PlacementRun | undefined;
const referenceRun = (): PlacementRun => {
  trusted ??= runPlacement(spec, fixture().params, [createReferenceBackend('reference 0'), createReferenceBackend('reference 1')], fixture().input);
  return trusted;
};

/** Runs `placement`, compares it with `against`, prints the table, fails on any disagreement. */
const agree = (mode: string, what: string, placement: Backend[], against: () => PlacementRun): PlacementRun => {
  const run = runPlacement(spec, fixture().params, placement, fixture().input);
  const r = compareRuns(spec, BATCH, against(), run);
  report(mode, `${what}: ${run.seconds.toFixed(1)} s, transfers: ${transferSummary(run.transfers)}`);
  console.log(formatReport(r).replace(/^/gm, '    '));
  assert.ok(r.ok, `${what} disagrees with what it is compared to (rows marked FAIL above)`);
  return run;
};

/** The layers that read both towers, from the network's own table. */
const exchangeLayers = spec.layers.filter((l) => l.link === 'both').map((l) => l.name);

const countTransfers = (log: TransferLog): Map<string, number> => {
  const m = new Map<string, number>();
  for (const r of log) m.set(`${r.direction} ${r.layer}`, (m.get(`${r.direction} ${r.layer}`) ?? 0) + 1);
  return m;
};

const S = suite('the full AlexNet on gpu.js agrees with the reference');

const destroyAll = (bs: readonly GpuBackend[]) => { for (const b of bs) b.destroy(); };

for (const mode of PROPERTY_MODES) {
  const plan = planFor(mode);
  let pair: PlacementRun | undefined;

  gpuTest(S, plan, '[gpu0, gpu1] gives the reference logits, loss and gradients; towers meet only at conv3, fc6, fc7, fc8', () => {
    const bs = [gpuBackend(mode, `gpu.js ${mode} #0`), gpuBackend(mode, `gpu.js ${mode} #1`)];
    try {
      pair = agree(bs[0].mode, `[${bs.map((b) => b.name).join(', ')}] vs [reference, reference]`, bs, referenceRun);
      // One forward and one backward pass: each layer that reads both towers
      // moves one tensor each way; the last layer also gathers the logits on
      // tower 0 and sends tower 1 its half of their gradient.
      assert.equal(exchangeLayers, ['conv3', 'fc6', 'fc7', 'fc8']);
      const last = exchangeLayers[exchangeLayers.length - 1];
      const want = new Map<string, number>();
      for (const l of exchangeLayers) {
        want.set(`forward ${l}`, l === last ? 3 : 2);
        want.set(`backward ${l}`, l === last ? 3 : 2);
      }
      const got = countTransfers(pair.transfers);
      assert.equal(Object.fromEntries([...got].sort()), Object.fromEntries([...want].sort()), 'transfers of one forward and backward pass');
      report(bs[0].mode, `transfers only at ${exchangeLayers.join(', ')}: ${pair.transfers.length} in all, ${pair.transfers.reduce((s, r) => s + r.bytes, 0)} bytes`);
    } finally {
      destroyAll(bs);
    }
  });

  // The mixed placement and the grouped network run on GL only: on webasm they
  // would add a minute and check the same plumbing again.
  if (mode !== 'headlessgl') continue;

  gpuTest(S, plan, '[reference, gpu1] gives the reference logits, loss and gradients', () => {
    const g = gpuBackend(mode, `gpu.js ${mode} #1`);
    try {
      agree(g.mode, `[reference, ${g.name}] vs [reference, reference]`, [createReferenceBackend('reference 0'), g], referenceRun);
    } finally {
      g.destroy();
    }
  });

  gpuTest(S, plan, 'one context running the grouped network agrees with two contexts', () => {
    if (!pair) throw new Error('the two-context run did not complete, so there is nothing to compare the one-context run with');
    const g = gpuBackend(mode, `gpu.js ${mode} (grouped)`);
    try {
      const one = agree(g.mode, `[${g.name}] vs two contexts`, [g], () => pair!);
      assert.equal(one.transfers.length, 0, 'one context needs no transfers');
    } finally {
      g.destroy();
    }
  });
}

S.run();
