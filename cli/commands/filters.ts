/**
 * `alexnet filters`: draws a trained network's conv1 kernels as a PNG grid,
 * tower 1's kernels above tower 2's, as in the paper's Figure 3 (where tower
 * 1 learned mostly colour-agnostic kernels and tower 2 mostly colour-specific
 * ones).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { towerSplit } from '../../core/alexnet.ts';
import { argumentError, orThrow } from '../../core/errors.ts';
import { intFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { filterGrid } from '../pictures.ts';
import { openCheckpoint } from '../trained.ts';

export const command: Command = {
  summary: 'draw the conv1 kernels as a PNG grid, tower 1 above tower 2 (Figure 3)',
  help: [
    'usage: alexnet filters [options]',
    '',
    'Writes the first layer\'s kernels of a checkpoint as a PNG: each kernel stretched',
    'to the full intensity range on its own, tower 1\'s half above a dark band and',
    'tower 2\'s below it, as the paper\'s Figure 3 shows them.',
    '',
    '  --checkpoint PATH  (default runs/latest/checkpoint.safetensors)',
    '  --model NAME       refuse a checkpoint of any other model',
    '  --out FILE         the PNG to write (default filters.png beside the checkpoint)',
    '  --zoom N           screen pixels per kernel pixel (default 4 for 11x11 kernels or larger, else 8)',
    '  --columns N        kernels per row (default 8)',
  ].join('\n'),
  run: async (argv) => {
    const { values: v, positionals } = parseArgs({
      args: argv, strict: true, allowPositionals: true,
      options: { checkpoint: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' }, zoom: { type: 'string' }, columns: { type: 'string' } },
    });
    if (positionals.length > 0) orThrow(E.left(argumentError(`filters takes no positional arguments, got '${positionals[0]}'; see --help`)));
    const ck = openCheckpoint(v);
    const w = ck.params.get('conv1.weight')!;
    const [F, C, k] = w.shape;
    const zoom = intFlag('zoom', v.zoom, k >= 11 ? 4 : 8, 1, 64);
    const columns = intFlag('columns', v.columns, 8, 1, 1024);
    const path = v.checkpoint ?? 'runs/latest/checkpoint.safetensors';
    const out = v.out ?? path.replace(/[^/]*$/, 'filters.png');
    writeFileSync(out, filterGrid(w, { zoom, columns }));
    const [a, b] = towerSplit(F);
    console.log(`${out}: ${F} conv1 kernels of ${k}x${k}x${C} (${C === 3 ? 'RGB' : 'grey'}), tower 1's ${a} above, tower 2's ${b} below`);
    return 0;
  },
};
