/**
 * What eval, classify and filters share: finding the checkpoint (by default
 * the last training run's, runs/latest/checkpoint.safetensors) and rebuilding
 * its network on the chosen backend.
 */
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint, type TrainingCheckpoint } from '../core/checkpoint.ts';
import { checkpointError, orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { choiceFlag, intFlag } from './args.ts';
import { BACKENDS, chooseBackend } from './backends.ts';
import { MODEL_NAMES } from './data.ts';

export const DEFAULT_CHECKPOINT = 'runs/latest/checkpoint.safetensors';

export const checkpointOptions = {
  checkpoint: { type: 'string' },
  model: { type: 'string' },
  backend: { type: 'string' },
  towers: { type: 'string' },
} as const;

export const checkpointHelp = [
  `  --checkpoint PATH  a checkpoint written by alexnet train (default ${DEFAULT_CHECKPOINT},`,
  '                     the last training run)',
  `  --model NAME       refuse a checkpoint of any other model (${MODEL_NAMES.join(' | ')})`,
  `  --backend NAME     ${BACKENDS.join(' | ')} (default auto)`,
  '  --towers 1|2       one context, or one per tower (default 1)',
].join('\n');

export const openCheckpoint = (v: { checkpoint?: string; model?: string }): TrainingCheckpoint => {
  const path = v.checkpoint ?? DEFAULT_CHECKPOINT;
  const model = v.model === undefined ? undefined : choiceFlag('model', v.model, MODEL_NAMES, 'alexnet-mini');
  const r = loadCheckpoint(path, model);
  if (E.isLeft(r) && v.checkpoint === undefined && /^no checkpoint at/.test(r.left.message)) {
    orThrow(E.left(checkpointError(`no checkpoint at ${path}; train one first (npm start) or pass --checkpoint PATH`)));
  }
  return orThrow(r);
};

/** The checkpoint's network on the backend the flags ask for. */
export const networkOf = async (ck: TrainingCheckpoint, v: { backend?: string; towers?: string }): Promise<{ net: Network; description: string; note: string | null }> => {
  const chosen = await chooseBackend(choiceFlag('backend', v.backend, BACKENDS, 'auto'), intFlag('towers', v.towers, 1, 1, 2) as 1 | 2);
  return { net: orThrow(Network.create(ck.spec, ck.params, chosen.placement)), description: chosen.description, note: chosen.note };
};
