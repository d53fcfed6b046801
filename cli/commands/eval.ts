/**
 * `alexnet eval`: a trained network's top-1 and top-5 error on a test set,
 * from the paper's ten crops (softmax averaged) or the centre crop.
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import type { DataRef } from '../../core/checkpoint.ts';
import { take } from '../../core/data/dataset.ts';
import { argumentError, datasetError, orThrow } from '../../core/errors.ts';
import { evaluate } from '../../core/train/evaluate.ts';
import { choiceFlag, intFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { openData, reopen } from '../data.ts';
import { progress } from '../progress.ts';
import { checkpointHelp, checkpointOptions, networkOf, openCheckpoint } from '../trained.ts';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export const command: Command = {
  summary: 'top-1 and top-5 test error of a trained network (ten crops)',
  help: [
    'usage: alexnet eval [options]',
    '',
    'Measures a checkpoint\'s top-1 and top-5 error on the test set of the data it was',
    'trained on (or on --data), each image seen through the paper\'s ten crops (four',
    'corners, centre, and their reflections, softmax outputs averaged).',
    '',
    checkpointHelp,
    '  --data DIR|synthetic  test on this data instead (same image size, channels and classes)',
    '  --crops 10|1       ten crops (default) or the centre crop',
    '  --limit N          the first N test images only',
    '  --batch N          images per forward pass (default 250)',
  ].join('\n'),
  run: async (argv) => {
    const { values: v, positionals } = parseArgs({
      args: argv, strict: true, allowPositionals: true,
      options: { ...checkpointOptions, data: { type: 'string' }, crops: { type: 'string' }, limit: { type: 'string' }, batch: { type: 'string' } },
    });
    if (positionals.length > 0) orThrow(E.left(argumentError(`eval takes no positional arguments, got '${positionals[0]}'; see --help`)));
    const crops = Number(choiceFlag('crops', v.crops, ['10', '1'] as const, '10')) as 1 | 10;
    const limit = intFlag('limit', v.limit, Number.MAX_SAFE_INTEGER);
    const batch = intFlag('batch', v.batch, 250, 1, 4096);
    const ck = openCheckpoint(v);
    const splits = v.data === undefined ? await reopen(ck.data, ck.config.seed) : (await openData(v.data, ck.spec.name as 'alexnet' | 'alexnet-mini', ck.config.seed)).splits;
    const test = take(splits.test, limit);
    if (test.size !== ck.prep.size || test.channels !== ck.prep.channels || test.classNames.length !== ck.spec.classes) {
      orThrow(E.left(datasetError(`${splits.description} does not fit the checkpoint's network (it takes ${ck.prep.size}x${ck.prep.size}x${ck.prep.channels} images of ${ck.spec.classes} classes)`)));
    }
    const { net, description, note } = await networkOf(ck, v);
    if (note) console.log(`note: ${note}`);
    console.log(`checkpoint: ${v.checkpoint ?? 'runs/latest/checkpoint.safetensors'} (${ck.spec.name}, epoch ${ck.state.epoch}, step ${ck.state.step}, trained on ${dataName(ck.data)})`);
    console.log(`backend: ${description}`);
    const bar = progress(crops === 10 ? 'eval (ten crops)' : 'eval (centre crop)', test.count);
    const ev = evaluate(net, test, ck.prep, { crops, batch, onProgress: (d) => bar.update(d) });
    bar.stop();
    console.log(`test error on ${ev.count} images (${crops === 10 ? 'ten crops, softmax averaged' : 'centre crop'}): top-1 ${pct(ev.top1)}, top-5 ${pct(ev.top5)} (accuracy ${pct(1 - ev.top1)})`);
    net.dispose();
    return 0;
  },
};

const dataName = (d: DataRef) => (d.kind === 'synthetic' ? `synthetic shapes (seed ${d.seed})` : d.path);
