/**
 * `alexnet train`: the paper's training recipe on a dataset, with a progress
 * line, checkpoints, a time budget, and at the end the test error, the conv1
 * filters and the training curve. With no flags it is the main job: alexnet-
 * mini on Fashion-MNIST (or the synthetic set when Fashion-MNIST is not
 * installed) for a bounded time.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { describe, macCount, parameterCount } from '../../core/alexnet.ts';
import { loadCheckpoint, saveCheckpoint, type TrainingCheckpoint } from '../../core/checkpoint.ts';
import { fitPreprocessing, type Preprocessing } from '../../core/data/augment.ts';
import { holdOut, take } from '../../core/data/dataset.ts';
import { AlexnetFailure, argumentError, orThrow, valueError } from '../../core/errors.ts';
import { Network } from '../../core/net.ts';
import { initParams } from '../../core/params.ts';
import { evaluate } from '../../core/train/evaluate.ts';
import { initialState, type TrainConfig, train, type TrainState } from '../../core/train/loop.ts';
import { checkDropAt, PAPER_PLATEAU, PAPER_SGD } from '../../core/train/schedule.ts';
import { choiceFlag, intFlag, numFlag } from '../args.ts';
import { BACKENDS, chooseBackend } from '../backends.ts';
import type { Command } from '../command.ts';
import { FASHION_MNIST_DIR } from '../../core/data/fashion-mnist.ts';
import { GEOMETRY, MODEL_NAMES, type ModelName, openData, reopen, specFor } from '../data.ts';
import { curveSvg, filterGrid } from '../pictures.ts';
import { progress } from '../progress.ts';

export const DEFAULT_MINUTES = 8;

const help = `usage: alexnet train [options]

Trains a network with the paper's recipe: minibatch SGD, momentum 0.9, weight
decay 0.0005 inside the update, learning rate 0.01 divided by 10 when the
validation error stops improving (at most 3 times; training ends when it stops
improving after the last drop), dropout 0.5 after fc6 and fc7, mean-image
subtraction, random crops and reflections, PCA colour noise (colour data),
10-crop testing. Everything random follows --seed.

With no options this is the main job: alexnet-mini on Fashion-MNIST if the
Debian package dataset-fashion-mnist is installed, else on built-in synthetic
shapes, for at most ${DEFAULT_MINUTES} minutes, then the test error.

data and model
  --model NAME           ${MODEL_NAMES.join(' | ')} (default alexnet-mini)
  --data DIR|synthetic   a folder of (Fashion-)MNIST IDX files, an image folder
                         (one sub-folder per class; optional train/ and val/),
                         or 'synthetic' (default: Fashion-MNIST if installed)
  --train-limit N        train on the first N training images only
  --test-limit N         test on the first N test images only
  --val N                training images held out for validation
                         (default: a tenth, at most 2000)

recipe
  --epochs N             at most N epochs (default 90, the paper's)
  --batch N              minibatch size (default 128)
  --lr X                 initial learning rate (default 0.01)
  --momentum X           (default 0.9)
  --weight-decay X       (default 0.0005)
  --patience N           validations without improvement before the rate
                         drops (default ${PAPER_PLATEAU.patience})
  --max-drops N          rate drops allowed (default ${PAPER_PLATEAU.maxDrops})
  --drop-at E1,E2,...    instead of waiting for the validation error to stop
                         improving, divide the rate by 10 after these epochs
                         (a fixed step schedule; training then runs all
                         --epochs)
  --validate-every N     steps between validations (default 50; 0: each epoch)
  --colour on|off        PCA colour augmentation, colour data only (default on)
  --seed N               seed of everything random (default 1)

running
  --minutes M            wall-clock budget for the whole run, test included;
                         training stops in time to test (default ${DEFAULT_MINUTES};
                         0: no limit)
  --test-crops auto|1|10 test on the centre crop or the paper's ten crops;
                         auto: ten unless that would take over a fifth of the
                         budget (default auto)
  --backend NAME         ${BACKENDS.join(' | ')} (default auto: gpu.js in
                         headless GL if it works here, else cpu)
  --towers 1|2           one context, or one per tower running side by side as the
                         paper's two GPUs (gpu: a process each; cpu: a thread each)
                         (default 1)
  --out DIR              where the checkpoint and pictures go
                         (default runs/<model>-<data>)
  --resume               continue the run in --out from its checkpoint, exactly
                         where it stopped (its recipe and seed are kept;
                         --epochs, --minutes, --backend, --towers may change)

writes <out>/checkpoint.safetensors (after every validation), <out>/curve.svg,
<out>/filters.png, and points runs/latest at <out>.`;

const options = {
  model: { type: 'string' },
  data: { type: 'string' },
  'train-limit': { type: 'string' },
  'test-limit': { type: 'string' },
  val: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  patience: { type: 'string' },
  'max-drops': { type: 'string' },
  'drop-at': { type: 'string' },
  'validate-every': { type: 'string' },
  colour: { type: 'string' },
  seed: { type: 'string' },
  minutes: { type: 'string' },
  'test-crops': { type: 'string' },
  backend: { type: 'string' },
  towers: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
} as const;

/** `--drop-at 15,25`: the epochs of a step schedule (absent: none). */
const dropAtFlag = (raw: string | undefined): number[] => {
  if (raw === undefined) return [];
  const parts = raw.split(',').map((p) => p.trim());
  const bad = parts.find((p) => !/^\d+$/.test(p));
  if (bad !== undefined) orThrow(E.left(argumentError(`--drop-at takes epoch numbers separated by commas (like 15,25), got '${raw}'`)));
  return parts.map(Number);
};

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const dataLabel = (ref: TrainingCheckpoint['data']) =>
  ref.kind === 'synthetic' ? 'synthetic' : ref.kind === 'idx' && ref.path === FASHION_MNIST_DIR ? 'fashion-mnist' : ref.path.split('/').filter(Boolean).pop() ?? 'data';

export const command: Command = {
  summary: 'train a network with the paper\'s recipe (the main job with no options)',
  help,
  run: async (argv) => {
    const { values: v, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) orThrow(E.left(argumentError(`train takes no positional arguments, got '${positionals[0]}'; see --help`)));
    const t0 = Date.now();
    const minutes = numFlag('minutes', v.minutes, DEFAULT_MINUTES, 0);
    const backendChoice = choiceFlag('backend', v.backend, BACKENDS, 'auto');
    const towers = intFlag('towers', v.towers, 1, 1, 2) as 1 | 2;
    const testCropsFlag = choiceFlag('test-crops', v['test-crops'], ['auto', '1', '10'] as const, 'auto');
    const testLimit = intFlag('test-limit', v['test-limit'], Number.MAX_SAFE_INTEGER);
    const model = choiceFlag('model', v.model, MODEL_NAMES, 'alexnet-mini') as ModelName;

    let ck: TrainingCheckpoint | null = null;
    let out = v.out;
    if (v.resume) {
      if (!out) orThrow(E.left(argumentError('--resume needs --out DIR, the folder of the run to continue')));
      const fixed = ['model', 'data', 'train-limit', 'val', 'batch', 'lr', 'momentum', 'weight-decay', 'patience', 'max-drops', 'drop-at', 'validate-every', 'colour', 'seed'] as const;
      const given = fixed.filter((f) => v[f] !== undefined);
      if (given.length > 0) orThrow(E.left(argumentError(`--resume keeps the run's recipe; drop --${given.join(', --')}`)));
      ck = orThrow(loadCheckpoint(join(out!, 'checkpoint.safetensors')));
    }

    // ---- the recipe ----------------------------------------------------------
    const seed = ck ? ck.config.seed : intFlag('seed', v.seed, 1, 0, 2 ** 31 - 1);
    const opened = ck ? { splits: await reopen(ck.data, seed), ref: ck.data, note: null } : await openData(v.data, model, seed);
    const trainLimit = ck ? ck.split.trainLimit : v['train-limit'] === undefined ? undefined : intFlag('train-limit', v['train-limit'], 0, 2);
    const full = trainLimit === undefined ? opened.splits.train : take(opened.splits.train, trainLimit);
    const valCount = ck ? ck.split.val : intFlag('val', v.val, Math.min(2000, Math.floor(full.count / 10)), 1, full.count - 1);
    const { train: trainSet, val: valSet } = holdOut(full, valCount, seed);
    const test = take(opened.splits.test, testLimit);
    const epochs = intFlag('epochs', v.epochs, ck ? ck.config.epochs : 90);
    const config: TrainConfig = ck ? { ...ck.config, epochs } : {
      batch: intFlag('batch', v.batch, 128, 1, 4096),
      sgd: {
        lr: numFlag('lr', v.lr, PAPER_SGD.lr, 0),
        momentum: numFlag('momentum', v.momentum, PAPER_SGD.momentum, 0, 1),
        weightDecay: numFlag('weight-decay', v['weight-decay'], PAPER_SGD.weightDecay, 0),
      },
      plateau: {
        ...PAPER_PLATEAU,
        patience: intFlag('patience', v.patience, PAPER_PLATEAU.patience, 1),
        maxDrops: intFlag('max-drops', v['max-drops'], PAPER_PLATEAU.maxDrops, 0),
      },
      dropAt: dropAtFlag(v['drop-at']),
      epochs,
      seed,
      validateEvery: intFlag('validate-every', v['validate-every'], 50, 0),
      colour: choiceFlag('colour', v.colour, ['on', 'off'] as const, 'on') === 'on',
      evalBatch: 250,
    };
    const drops = config.dropAt ?? [];
    const dropProblem = checkDropAt(drops, config.epochs);
    if (dropProblem) orThrow(E.left(argumentError(`--drop-at: ${dropProblem}`)));
    const { crop } = GEOMETRY[model];
    const spec = ck ? ck.spec : specFor(model, full.classNames.length, full.channels, crop);
    const prep: Preprocessing = ck ? ck.prep : fitPreprocessing(trainSet, spec.input[1]);
    const rows = orThrow(describe(spec));
    out = out ?? join('runs', `${spec.name}-${dataLabel(opened.ref)}`);
    mkdirSync(out, { recursive: true });
    const ckPath = join(out, 'checkpoint.safetensors');

    const chosen = await chooseBackend(backendChoice, towers);
    const net = orThrow(Network.create(spec, ck ? ck.params : initParams(spec, seed), chosen.placement, ck?.velocity));
    let state: TrainState = ck ? ck.state : initialState(config);

    if (opened.note) console.log(`note: ${opened.note}`);
    if (chosen.note) console.log(`note: ${chosen.note}`);
    console.log(`data: ${opened.splits.description}${trainLimit !== undefined ? ` (first ${full.count} training images used)` : ''}`);
    console.log(`      ${trainSet.count} for training, ${valSet.count} held out for validation, ${test.count} for testing`);
    console.log(`model: ${spec.name}, input ${spec.input[1]}x${spec.input[2]}x${spec.input[0]}, ${spec.classes} classes, ${parameterCount(rows).toLocaleString('en-US')} parameters, ${(macCount(rows) / 1e6).toFixed(1)} M multiply-adds per image`);
    console.log(`backend: ${chosen.description}`);
    if (prep.channels !== 3) console.log('note: the data is grey, so PCA colour augmentation is skipped (it needs three colour channels)');
    else if (!config.colour) console.log('note: PCA colour augmentation is off (--colour off)');
    const scheduleText = drops.length > 0
      ? `/${config.plateau.factor} after epoch${drops.length > 1 ? 's' : ''} ${drops.join(', ')}`
      : `/${config.plateau.factor} after ${config.plateau.patience} validations without improvement, at most ${config.plateau.maxDrops} times`;
    console.log(`recipe: batch ${config.batch}, lr ${config.sgd.lr} (${scheduleText}), momentum ${config.sgd.momentum}, weight decay ${config.sgd.weightDecay}, seed ${seed}, at most ${config.epochs} epochs${minutes > 0 ? `, at most ${minutes} minutes in all` : ''}`);
    if (ck) console.log(`resuming ${ckPath} at epoch ${state.epoch}, step ${state.step} (lr ${state.schedule.lr})`);

    // ---- training --------------------------------------------------------------
    const perEpoch = Math.floor(trainSet.count / config.batch);
    const budgetMs = minutes > 0 ? minutes * 60_000 : Infinity;
    let forwardRate = NaN; // images per second through a forward pass, measured on validation
    let trainRate = NaN;
    const forwardMs = (images: number) => (images / (Number.isFinite(forwardRate) ? forwardRate : 3 * trainRate)) * 1000;
    /** Ten crops unless asked otherwise or, under a budget, ten would take more than a fifth of it. */
    const testCrops = (): 1 | 10 => {
      if (testCropsFlag !== 'auto') return Number(testCropsFlag) as 1 | 10;
      return !Number.isFinite(budgetMs) || forwardMs(10 * test.count) <= budgetMs / 5 ? 10 : 1;
    };
    const testMs = () => forwardMs(testCrops() * test.count);
    const saveState = (s: TrainState) => {
      saveCheckpoint(ckPath, {
        spec, params: net.parameters(), velocity: net.velocities(), prep, classNames: full.classNames,
        data: opened.ref, split: { val: valCount, trainLimit }, config, state: s, backend: chosen.description,
      });
    };
    let bar = state.epoch < config.epochs ? progress(`epoch ${state.epoch + 1}`, perEpoch * config.batch, state.step * config.batch, ['loss', 'err', 'lr']) : null;
    let stepT = Date.now();
    let stepImages = 0;
    let valStart = 0;
    const outcome = train(net, { train: trainSet, val: valSet }, prep, config, state, {
      onStep: (r) => {
        stepImages += config.batch;
        trainRate = (stepImages / (Date.now() - stepT)) * 1000;
        bar?.update(r.step * config.batch, { loss: r.runningLoss.toFixed(3), err: pct(r.runningError), lr: String(r.lr) });
        if (r.step === r.stepsPerEpoch) {
          bar?.stop();
          bar = r.epoch + 1 < config.epochs ? progress(`epoch ${r.epoch + 2}`, perEpoch * config.batch, 0, ['loss', 'err', 'lr']) : null;
        }
      },
      onStepDrop: (epoch, from, to) => console.error(`\nstep schedule: lr ${from} -> ${to} from epoch ${epoch + 1}`),
      onValidationStart: () => { valStart = Date.now(); },
      onValidation: (p, s) => {
        forwardRate = (valSet.count / (Date.now() - valStart)) * 1000;
        stepT = Date.now();
        stepImages = 0;
        const drop = drops.length === 0 && s.schedule.lr < p.lr ? `; validation error stopped improving: lr ${p.lr} -> ${s.schedule.lr}` : s.schedule.done ? '; validation error stopped improving after the last drop: done' : '';
        console.error(`\nvalidation at epoch ${p.epoch.toFixed(2)}: top-1 ${pct(p.valError)}, top-5 ${pct(p.valTop5)} (training loss ${p.trainLoss.toFixed(4)}, error ${pct(p.trainError)})${drop}`);
      },
      save: (s) => { saveState(s); state = s; },
      shouldStop: () => Date.now() - t0 + testMs() * 1.1 >= budgetMs,
    });
    bar?.stop();
    state = outcome.state;
    linkLatest(out);
    writeFileSync(join(out, 'curve.svg'), curveSvg(state.history, `${spec.name} on ${dataLabel(opened.ref)}: training curve`));

    if (outcome.kind === 'diverged') {
      throw new AlexnetFailure(valueError(
        `the loss became ${outcome.loss} at epoch ${outcome.epoch + 1}, step ${outcome.step + 1} (lr ${outcome.lr}); training stopped. ` +
        (state.totalSteps > 0 || ck ? `The last good checkpoint is kept: ${ckPath} (epoch ${state.epoch}, step ${state.step}). ` : 'No checkpoint was written. ') +
        'Try a lower --lr.',
      ));
    }
    const why = outcome.kind === 'stopped' ? `the ${minutes}-minute budget is nearly spent (leaving time to test)` : outcome.reason === 'plateau' ? 'the validation error stopped improving after the last rate drop' : `${config.epochs} epochs are done`;
    console.log(`training stopped after ${(state.epoch + state.step / perEpoch).toFixed(2)} epochs (${state.totalSteps} steps): ${why}`);

    // ---- test ------------------------------------------------------------------
    const crops = testCrops();
    const tbar = progress(`test (${crops === 10 ? 'ten crops' : 'centre crop'})`, test.count);
    const ev = evaluate(net, test, prep, { crops, batch: config.evalBatch, onProgress: (d) => tbar.update(d) });
    tbar.stop();
    const conv1 = net.parameters().get('conv1.weight')!;
    writeFileSync(join(out, 'filters.png'), filterGrid(conv1, { zoom: conv1.shape[2] >= 11 ? 4 : 8, columns: 8 }));
    const last = state.history[state.history.length - 1];
    console.log(`test error on ${ev.count} images (${crops === 10 ? 'ten crops, softmax averaged' : 'centre crop'}): top-1 ${pct(ev.top1)}, top-5 ${pct(ev.top5)} (accuracy ${pct(1 - ev.top1)})`);
    if (last) console.log(`last validation: top-1 ${pct(last.valError)}; learning rate now ${state.schedule.lr}`);
    console.log(`checkpoint: ${ckPath}`);
    console.log(`conv1 filters (tower 1 above, tower 2 below): ${join(out, 'filters.png')}`);
    console.log(`training curve: ${join(out, 'curve.svg')}`);
    console.log(`time: ${((Date.now() - t0) / 60000).toFixed(1)} minutes`);
    net.dispose();
    return 0;
  },
};

/** Points runs/latest at the run folder (the default for eval, classify and filters). */
const linkLatest = (out: string): void => {
  const link = join('runs', 'latest');
  try {
    mkdirSync('runs', { recursive: true });
    rmSync(link, { force: true });
    symlinkSync(relative(dirname(resolve(link)), resolve(out)), link);
  } catch {
    // Not essential: eval and the others also take --checkpoint.
  }
};
