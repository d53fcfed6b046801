#!/usr/bin/env -S npx tsx
/**
 * The `alexnet` command. Each subcommand is a module in cli/commands/ that
 * exports a `Command`; this file only dispatches and turns errors into one
 * clear line and a non-zero exit.
 */
import { AlexnetFailure, argumentError } from '../core/errors.ts';
import type { Command } from './command.ts';

/** A path the compiler leaves alone, so that a build without bench/ still compiles. */
const BENCH: string = './commands/bench.ts';

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  info: () => import('./commands/info.ts'),
  // The benchmark suite lives in the repository (bench/), not in the installed package.
  bench: () => import(BENCH).catch(() => { throw new AlexnetFailure(argumentError('alexnet bench runs the benchmark suite from a clone of the repository (npm run bench); this installation has no bench/')); }),
  verify: () => import('./commands/verify.ts'),
  train: () => import('./commands/train.ts'),
  eval: () => import('./commands/eval.ts'),
  classify: () => import('./commands/classify.ts'),
  filters: () => import('./commands/filters.ts'),
  export: () => import('./commands/export.ts'),
};

const usage = async (): Promise<string> => {
  const lines = ['usage: alexnet <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const summary = await load().then((m) => m.command.summary, () => '(not available)');
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  lines.push('', 'alexnet <command> --help  shows a command\'s options');
  return lines.join('\n');
};

const main = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`alexnet: unknown command '${name}'; commands are: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  return command.run(rest);
};

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof AlexnetFailure) {
      console.error(`alexnet: ${err.message}`);
      // A usage error (a bad flag or value) exits 2, like a flag parseArgs refused.
      process.exitCode = err.error._tag === 'ArgumentError' ? 2 : 1;
    } else if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
      console.error(`alexnet: ${err.message}; see --help`);
      process.exitCode = 2;
    } else {
      console.error(err);
      process.exitCode = 70;
    }
  },
);
