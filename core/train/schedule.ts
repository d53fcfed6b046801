/**
 * The paper's optimiser settings and learning-rate schedule (section 5):
 * minibatch SGD with momentum 0.9 and weight decay 0.0005 inside the update
 * (v <- 0.9 v - 0.0005 eps w - eps g; w <- w + v, the backends' `sgdUpdate`),
 * learning rate 0.01 divided by 10 whenever the validation error stops
 * improving, three times at most.
 *
 * "Stops improving" is made precise by a patience: after `patience`
 * validations in a row without a new best error, the rate drops. After the
 * last allowed drop, the same test ends training.
 *
 * The alternative is a fixed step schedule (Caffe's "multistep"): the rate is
 * divided at given epochs, whatever the validation error does, and training
 * runs its full number of epochs. A plateau test on a small validation set is
 * noisy (one lucky validation can hold a drop back for epochs, one unlucky one
 * can bring the next drop too soon); fixed steps trade that for having to know
 * in advance how long each rate is worth keeping.
 */
import type { SgdParams } from '../backend.ts';

export const PAPER_SGD: SgdParams = { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 };

export interface PlateauOptions {
  /** Validations without improvement before the rate drops. */
  readonly patience: number;
  /** Divisor of each drop (the paper's 10). */
  readonly factor: number;
  /** Drops allowed (the paper's 3). */
  readonly maxDrops: number;
}

export const PAPER_PLATEAU: PlateauOptions = { patience: 2, factor: 10, maxDrops: 3 };

export interface PlateauState {
  readonly lr: number;
  /** Best validation error so far (null before the first validation). */
  readonly best: number | null;
  /** Validations since the best one. */
  readonly sinceBest: number;
  readonly drops: number;
  /** True once the error has stopped improving after the last allowed drop. */
  readonly done: boolean;
}

export const plateauStart = (lr: number): PlateauState => ({ lr, best: null, sinceBest: 0, drops: 0, done: false });

/** The schedule after one more validation error. Pure. */
export const plateauStep = (s: PlateauState, valError: number, o: PlateauOptions): PlateauState => {
  if (s.best === null || valError < s.best) return { ...s, best: valError, sinceBest: 0 };
  const since = s.sinceBest + 1;
  if (since < o.patience) return { ...s, sinceBest: since };
  if (s.drops < o.maxDrops) return { ...s, lr: s.lr / o.factor, drops: s.drops + 1, sinceBest: 0 };
  return { ...s, sinceBest: since, done: true };
};

/** The SGD settings in force for a schedule state. */
export const sgdAt = (s: PlateauState, base: SgdParams): SgdParams => ({ ...base, lr: s.lr });

/**
 * The schedule after one more validation error: the plateau test, or with a
 * step schedule (`dropAt` not empty) the same test with a patience that never
 * runs out, so only the best error is kept and the rate follows the epoch
 * (`steppedRate`). Pure.
 */
export const scheduleStep = (s: PlateauState, valError: number, o: PlateauOptions, dropAt: readonly number[]): PlateauState =>
  plateauStep(s, valError, dropAt.length === 0 ? o : { ...o, patience: Infinity });

/** The rate of a step schedule during epoch `epoch` (0-based): `base` divided by `factor` once per entry of `dropAt` at or below it. */
export const steppedRate = (base: number, dropAt: readonly number[], factor: number, epoch: number): number =>
  base / factor ** dropAt.filter((e) => epoch >= e).length;

/** Checks a step schedule: whole epochs, rising, each within 1..epochs-1 (a drop at epoch e takes effect from epoch e + 1, 1-based). */
export const checkDropAt = (dropAt: readonly number[], epochs: number): string | null => {
  for (let i = 0; i < dropAt.length; i++) {
    const e = dropAt[i];
    if (!Number.isInteger(e) || e < 1) return `drop epochs must be whole numbers of at least 1, got '${e}'`;
    if (i > 0 && e <= dropAt[i - 1]) return `drop epochs must rise, got ${dropAt[i - 1]} then ${e}`;
    if (e >= epochs) return `a drop after epoch ${e} never happens in a run of ${epochs} epochs; raise --epochs or lower the drop`;
  }
  return null;
};
