/** Small networks and data for the training, data and checkpoint properties. */
import { alexnetMini, type NetSpec } from '../core/alexnet.ts';
import { fitPreprocessing } from '../core/data/augment.ts';
import { holdOut, type Dataset } from '../core/data/dataset.ts';
import { synthetic } from '../core/data/synthetic.ts';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import type { TrainConfig } from '../core/train/loop.ts';
import { PAPER_PLATEAU, PAPER_SGD } from '../core/train/schedule.ts';
import { createReferenceBackend } from '../reference/index.ts';

/** alexnet-mini's design at 16 x 16 with a few units per layer: every feature, tiny cost. */
export const tinySpec = (classes = 10, channels = 3, initStd?: number): NetSpec => {
  const m = alexnetMini(classes, channels, 16);
  const widths = [8, 8, 8, 8, 8, 32, 32];
  return { ...m, initStd: initStd ?? m.initStd, layers: m.layers.map((l, i) => (i < widths.length ? { ...l, out: widths[i] } : l)) };
};

/** Synthetic shapes stored at 20 x 20 (cropped to 16 x 16). */
export const tinyData = (train = 400, test = 60, seed = 7, classes = 10) => synthetic({ seed, train, test, size: 20, channels: 3, classes });

export const tinyConfig = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  batch: 20,
  sgd: PAPER_SGD,
  plateau: PAPER_PLATEAU,
  epochs: 1,
  seed: 3,
  validateEvery: 5,
  colour: true,
  evalBatch: 50,
  ...over,
});

export const tinySetup = (seed = 3, data: { train: Dataset } = tinyData()) => {
  const spec = tinySpec();
  const { train, val } = holdOut(data.train, 40, seed);
  const prep = fitPreprocessing(train, 16);
  const net = orThrow(Network.create(spec, initParams(spec, seed), [createReferenceBackend()]));
  return { spec, train, val, prep, net };
};
