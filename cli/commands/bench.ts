/**
 * `alexnet bench`: the benchmark suite (bench/run.ts), the same as `npm run bench`.
 */
import type { Command } from '../command.ts';
import { HELP, main } from '../../bench/run.ts';

export const command: Command = {
  summary: 'measure throughput and per-layer GFLOP/s on every backend against TensorFlow.js; keep the history',
  help: HELP.replace('usage: npm run bench -- [options]     (or: alexnet bench [options])', 'usage: alexnet bench [options]     (or: npm run bench -- [options])'),
  run: async (argv) => {
    process.env.ALEXNET_BENCH_COMMAND ??= `alexnet bench${argv.length ? ` ${argv.join(' ')}` : ''}`;
    return main(argv);
  },
};
