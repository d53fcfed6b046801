/**
 * The training loop (paper section 5): epochs of minibatch SGD over a seeded
 * order of the training images, each batch cropped, reflected and colour-
 * shifted afresh, dropout on; the validation error measured every so many
 * steps drives the learning-rate schedule (or, with a fixed step schedule,
 * the epoch does); the state is handed to `save` after
 * each validation and when stopping early.
 *
 * Reproducible: the image order of epoch e comes from the stream
 * `seed / "order e"` and everything random in step t of epoch e (crops,
 * reflections, colour shifts, dropout masks) from `seed / "step e t"`. So a
 * run is fixed by its seed, and a run resumed from a checkpoint (which records
 * the epoch and step) continues exactly as if it had never stopped.
 *
 * A loss that is not finite stops training at once: the state of the last
 * save is the last good one, and nothing is saved after it.
 */
import type { SgdParams } from '../backend.ts';
import { type Dataset } from '../data/dataset.ts';
import { type Preprocessing, trainingBatch } from '../data/augment.ts';
import { argumentError, orThrow } from '../errors.ts';
import * as E from 'fp-ts/lib/Either.js';
import type { Network } from '../net.ts';
import { Rng } from '../rng.ts';
import { evaluate } from './evaluate.ts';
import { topKMisses } from './metrics.ts';
import { type PlateauOptions, type PlateauState, plateauStart, scheduleStep, sgdAt, steppedRate } from './schedule.ts';

export interface TrainConfig {
  readonly batch: number;
  /** Base learning rate, momentum and weight decay. */
  readonly sgd: SgdParams;
  readonly plateau: PlateauOptions;
  /**
   * Epochs after which the rate is divided by `plateau.factor`, a fixed step
   * schedule in place of the plateau test (absent or empty: the plateau test).
   */
  readonly dropAt?: readonly number[];
  /** Upper bound on epochs (the plateau schedule may end training sooner). */
  readonly epochs: number;
  readonly seed: number;
  /** Steps between validations; 0 means once per epoch. */
  readonly validateEvery: number;
  /** PCA colour augmentation (applies to colour data only). */
  readonly colour: boolean;
  /** Batch size for validation passes. */
  readonly evalBatch: number;
}

/** One point of the training curve, recorded at each validation. */
export interface HistoryPoint {
  /** Epochs done, fractional. */
  readonly epoch: number;
  readonly steps: number;
  /** Mean training loss and top-1 error (with augmentation and dropout) since the previous point. */
  readonly trainLoss: number;
  readonly trainError: number;
  /** Validation top-1 and top-5 error (centre crop). */
  readonly valError: number;
  readonly valTop5: number;
  /** Learning rate the period was trained with. */
  readonly lr: number;
}

export interface TrainState {
  /** Epochs completed. */
  readonly epoch: number;
  /** Steps done in the current epoch. */
  readonly step: number;
  readonly totalSteps: number;
  readonly schedule: PlateauState;
  readonly history: readonly HistoryPoint[];
  /** Sums for the current period: loss, misses, images. */
  readonly period: { readonly loss: number; readonly misses: number; readonly images: number; readonly steps: number };
}

export const initialState = (c: TrainConfig): TrainState => ({
  epoch: 0,
  step: 0,
  totalSteps: 0,
  schedule: plateauStart(c.sgd.lr),
  history: [],
  period: { loss: 0, misses: 0, images: 0, steps: 0 },
});

export interface StepReport {
  readonly epoch: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly loss: number;
  /** Mean loss and top-1 training error since the last validation. */
  readonly runningLoss: number;
  readonly runningError: number;
  readonly lr: number;
}

export interface TrainHooks {
  readonly onStep?: (r: StepReport) => void;
  readonly onValidationStart?: (images: number) => void;
  readonly onValidation?: (p: HistoryPoint, s: TrainState) => void;
  /** A step schedule lowered the rate at the start of `epoch` (0-based); plateau drops show in `onValidation`. */
  readonly onStepDrop?: (epoch: number, from: number, to: number) => void;
  /** Persists a state (the network's weights go with it); called after each validation and on an early stop. */
  readonly save: (s: TrainState) => void;
  /** Asked after every step: true ends training early (a time budget, say). */
  readonly shouldStop?: () => boolean;
}

export type Outcome =
  | { readonly kind: 'finished'; readonly reason: 'epochs' | 'plateau'; readonly state: TrainState }
  | { readonly kind: 'stopped'; readonly state: TrainState }
  | { readonly kind: 'diverged'; readonly loss: number; readonly epoch: number; readonly step: number; readonly lr: number; readonly state: TrainState };

export const stepsPerEpoch = (images: number, batch: number): number => Math.floor(images / batch);

/** The image order of one epoch. */
export const epochOrder = (seed: number, epoch: number, n: number): Int32Array => new Rng(seed).derive(`order ${epoch}`).permutation(n);

/** The random stream of one step. */
export const stepRng = (seed: number, epoch: number, step: number): Rng => new Rng(seed).derive(`step ${epoch} ${step}`);

export const train = (
  net: Network,
  data: { readonly train: Dataset; readonly val: Dataset },
  prep: Preprocessing,
  c: TrainConfig,
  start: TrainState,
  hooks: TrainHooks,
): Outcome => {
  const perEpoch = stepsPerEpoch(data.train.count, c.batch);
  if (perEpoch < 1) orThrow(E.left(argumentError(`the training set has ${data.train.count} images, fewer than one batch of ${c.batch}; use a smaller --batch`)));
  if (data.val.count < 1) orThrow(E.left(argumentError('the validation set is empty; hold out at least one image with --val')));
  const every = c.validateEvery > 0 ? c.validateEvery : perEpoch;
  let s = start;
  let order = epochOrder(c.seed, s.epoch, data.train.count);
  let savedAt = s.totalSteps;
  const dropAt = c.dropAt ?? [];
  /** With a step schedule the rate follows the epoch. */
  const atEpoch = (st: TrainState): TrainState =>
    dropAt.length === 0 ? st : { ...st, schedule: { ...st.schedule, lr: steppedRate(c.sgd.lr, dropAt, c.plateau.factor, st.epoch) } };
  s = atEpoch(s);

  while (s.epoch < c.epochs && !s.schedule.done) {
    const idx = order.subarray(s.step * c.batch, (s.step + 1) * c.batch);
    const rng = stepRng(c.seed, s.epoch, s.step);
    const x = trainingBatch(data.train, idx, prep, rng, c.colour);
    const labels = Int32Array.from(idx, (i) => data.train.labels[i]);
    const lr = s.schedule.lr;
    const r = net.trainStep(x, labels, sgdAt(s.schedule, c.sgd), { rng });
    if (!Number.isFinite(r.loss)) return { kind: 'diverged', loss: r.loss, epoch: s.epoch, step: s.step, lr, state: s };

    const misses = topKMisses(r.logits, labels, 1);
    const period = { loss: s.period.loss + r.loss, misses: s.period.misses + misses, images: s.period.images + labels.length, steps: s.period.steps + 1 };
    s = { ...s, step: s.step + 1, totalSteps: s.totalSteps + 1, period };
    hooks.onStep?.({
      epoch: s.epoch, step: s.step, stepsPerEpoch: perEpoch, totalSteps: s.totalSteps, loss: r.loss,
      runningLoss: period.loss / period.steps, runningError: period.misses / period.images, lr,
    });
    if (s.step === perEpoch) {
      s = atEpoch({ ...s, epoch: s.epoch + 1, step: 0 });
      if (s.schedule.lr < lr) hooks.onStepDrop?.(s.epoch, lr, s.schedule.lr);
      order = epochOrder(c.seed, s.epoch, data.train.count);
    }
    if (s.totalSteps % every === 0) {
      hooks.onValidationStart?.(data.val.count);
      const ev = evaluate(net, data.val, prep, { crops: 1, batch: c.evalBatch });
      const point: HistoryPoint = {
        epoch: s.epoch + s.step / perEpoch,
        steps: s.totalSteps,
        trainLoss: period.loss / period.steps,
        trainError: period.misses / period.images,
        valError: ev.top1,
        valTop5: ev.top5,
        lr,
      };
      s = {
        ...s,
        schedule: scheduleStep(s.schedule, ev.top1, c.plateau, dropAt),
        history: [...s.history, point],
        period: { loss: 0, misses: 0, images: 0, steps: 0 },
      };
      hooks.onValidation?.(point, s);
      hooks.save(s);
      savedAt = s.totalSteps;
      if (s.schedule.done) return { kind: 'finished', reason: 'plateau', state: s };
    }
    if (hooks.shouldStop?.()) {
      if (savedAt !== s.totalSteps) hooks.save(s);
      return { kind: 'stopped', state: s };
    }
  }
  if (savedAt !== s.totalSteps) hooks.save(s);
  return { kind: 'finished', reason: s.schedule.done ? 'plateau' : 'epochs', state: s };
};
