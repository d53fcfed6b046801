/**
 * The drivers that hand a subject's work to the measuring code
 * (measure.ts): a placement of the project's backends run through the real
 * executor, and the TensorFlow.js peer. Node's bench worker (worker.ts) and
 * the page (web/bench.ts) build their subjects from these, so a browser
 * figure and a Node figure time the same calls.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, NetSpec } from '../core/alexnet.ts';
import { dropoutMasks } from '../core/net.ts';
import type { Params } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import type { Driver } from './measure.ts';
import { batchOf, handleSyncer, OursCases, oursNetwork, type Placement, trainStepOf } from './ours.ts';
import { PeerCases, tensorSyncer } from './peers/cases.ts';
import { TfAlexnet, toNhwc } from './peers/tfjs.ts';
import type { Plan } from './plan.ts';
import type { Syncer } from './profile.ts';

/** The project's backends on `placement` (one context, or one per tower). */
export const placementDriver = (spec: NetSpec, rows: readonly LayerInfo[], plan: Plan, placement: Placement, detail: string, params: Params): Driver<unknown> => {
  // The network's parameters leave the device while the profile runs (fc6 alone is 150 MB).
  let live: ReturnType<typeof oursNetwork> | undefined;
  const net = () => (live ??= oursNetwork(spec, params, placement));
  const trainRng = new Rng(plan.seed).derive('dropout');
  return {
    detail,
    inference: (N) => { const { x } = batchOf(spec, N, plan.seed); return () => { net().forward(x); }; },
    training: (N) => { const { x, labels } = batchOf(spec, N, plan.seed); const n = net(); return trainStepOf(n, x, labels, plan.sgd, trainRng); },
    profileLayers: (N, backward) => {
      live?.dispose();
      live = undefined;
      const cases = new OursCases(spec, rows, placement, N, plan.seed, backward, plan.sgd);
      return { layers: rows.map((_, i) => ({ make: () => cases.layer(i), release: () => cases.release() })), syncer: handleSyncer as Syncer<unknown> };
    },
    dispose: () => live?.dispose(),
  };
};

/** The same network in TensorFlow.js ops, on whichever TensorFlow.js backend is set up (`detail` says which). */
export const tfjsDriver = (spec: NetSpec, rows: readonly LayerInfo[], plan: Plan, detail: string, params: Params, reads: 'sync' | 'awaited' = 'sync'): Driver<unknown> => {
  const net = new TfAlexnet(spec, rows, params);
  const trainRng = new Rng(plan.seed).derive('dropout');
  const masksOf = (N: number) => new Map([...dropoutMasks(spec, N, trainRng)].map(([k, v]) => [k, tf.tensor2d(v.data as Float32Array, [v.shape[0], v.shape[1]])]));
  const finite = (loss: number) => { if (!Number.isFinite(loss)) throw new Error(`the training loss became ${loss}`); };
  if (reads === 'awaited') {
    // As webgpu's users read: every read a promise (a browser offers no synchronous one).
    return {
      detail,
      inference: (N) => {
        const x = toNhwc(batchOf(spec, N, plan.seed).x);
        return async () => { const y = tf.tidy(() => net.logits(x)); await y.data(); y.dispose(); };
      },
      training: (N) => {
        const { x: hx, labels } = batchOf(spec, N, plan.seed);
        const x = toNhwc(hx);
        const oh = net.oneHot(labels);
        return async () => {
          const masks = masksOf(N);
          finite(await net.trainStepLater(x, oh, masks, plan.sgd));
          tf.dispose([...masks.values()]);
        };
      },
      noProfile: 'the per-layer profile times each kernel up to a synchronous read of its result; this peer\'s reads are awaited, so whole passes and training steps are measured',
      dispose: () => net.dispose(),
    };
  }
  return {
    detail,
    inference: (N) => {
      const x = toNhwc(batchOf(spec, N, plan.seed).x);
      return () => { tf.tidy(() => { net.logits(x).dataSync(); }); };
    },
    training: (N) => {
      const { x: hx, labels } = batchOf(spec, N, plan.seed);
      const x = toNhwc(hx);
      const oh = net.oneHot(labels);
      return () => {
        const masks = masksOf(N);
        finite(net.trainStep(x, oh, masks, plan.sgd));
        tf.dispose([...masks.values()]);
      };
    },
    profileLayers: (N, backward) => {
      const cases = new PeerCases(net, N, plan.seed, backward, plan.sgd);
      return { layers: rows.map((_, i) => ({ make: () => cases.layer(i), release: () => cases.release() })), syncer: tensorSyncer as Syncer<unknown> };
    },
    dispose: () => net.dispose(),
  };
};
