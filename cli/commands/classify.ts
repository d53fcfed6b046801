/**
 * `alexnet classify <image>`: the five most probable labels of one PNG or
 * JPEG image, with their probabilities (softmax averaged over the ten crops).
 * The image is prepared as the network's training images were: rescaled and
 * centre-cropped to their size (and, for a network trained on padded
 * Fashion-MNIST, rescaled to 28 x 28 and padded the same way).
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { classify, imageSideOf } from '../../core/classify.ts';
import { loadImage } from '../../core/data/image-folder.ts';
import { argumentError, orThrow } from '../../core/errors.ts';
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
    const pixels = orThrow(await loadImage(positionals[0], imageSideOf(ck), ck.prep.channels as 1 | 3));
    const { net, note } = await networkOf(ck, v);
    if (note) console.error(`note: ${note}`);
    const ranked = classify(net, ck, pixels, { top, crops: crops === '10' ? 10 : 1, name: positionals[0] });
    net.dispose();
    const width = Math.max(...ranked.map((r) => r.label.length));
    for (const r of ranked) console.log(`${r.label.padEnd(width)}  ${(100 * r.probability).toFixed(2).padStart(6)}%`);
    return 0;
  },
};
