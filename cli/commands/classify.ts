/**
 * `alexnet classify <image>`: the five most probable labels of one PNG or
 * JPEG image, with their probabilities (softmax averaged over the ten crops).
 * The image is prepared as the network's training images were: rescaled and
 * centre-cropped to their size (and, for a network trained on padded
 * Fashion-MNIST, rescaled to 28 x 28 and padded the same way).
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { centreView, tenCropViews } from '../../core/data/augment.ts';
import { type Dataset, pad } from '../../core/data/dataset.ts';
import { loadImage } from '../../core/data/image-folder.ts';
import { argumentError, orThrow } from '../../core/errors.ts';
import { averagedProbabilities } from '../../core/train/evaluate.ts';
import { choiceFlag, intFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { checkpointHelp, checkpointOptions, networkOf, openCheckpoint } from '../trained.ts';

export const command: Command = {
  summary: 'the top-5 labels of an image, with probabilities',
  help: [
    'usage: alexnet classify <image> [options]',
    '',
    'Prints the most probable labels of a PNG or JPEG image under a trained network,',
    'with their probabilities (softmax averaged over the paper\'s ten crops).',
    'A network trained on Fashion-MNIST expects its look: a light garment centred on',
    'a black background.',
    '',
    checkpointHelp,
    '  --top K            how many labels to print (default 5)',
    '  --crops 10|1       ten crops (default) or the centre crop',
  ].join('\n'),
  run: async (argv) => {
    const { values: v, positionals } = parseArgs({
      args: argv, strict: true, allowPositionals: true,
      options: { ...checkpointOptions, top: { type: 'string' }, crops: { type: 'string' } },
    });
    if (positionals.length !== 1) orThrow(E.left(argumentError(`classify takes one image file, got ${positionals.length}; usage: alexnet classify <image>`)));
    const top = intFlag('top', v.top, 5, 1);
    const crops = choiceFlag('crops', v.crops, ['10', '1'] as const, '10');
    const ck = openCheckpoint(v);
    const { channels, size, crop } = ck.prep;
    const border = ck.data.kind === 'idx' ? ck.data.pad : 0;
    const pixels = orThrow(await loadImage(positionals[0], size - 2 * border, channels as 1 | 3));
    const one: Dataset = pad({
      name: positionals[0], classNames: ck.classNames, channels, size: size - 2 * border, count: 1, pixels, labels: Int32Array.of(0),
    }, border);
    const { net, note } = await networkOf(ck, v);
    if (note) console.error(`note: ${note}`);
    const views = crops === '10' ? tenCropViews(size, crop) : [centreView(size, crop)];
    const probs = averagedProbabilities(net, one, [0], ck.prep, views);
    net.dispose();
    const ranked = Array.from(probs.data, (p, k) => ({ p, k })).sort((a, b) => b.p - a.p).slice(0, top);
    const width = Math.max(...ranked.map((r) => ck.classNames[r.k].length));
    for (const r of ranked) console.log(`${ck.classNames[r.k].padEnd(width)}  ${(100 * r.p).toFixed(2).padStart(6)}%`);
    return 0;
  },
};
