/**
 * `alexnet verify`: the conformance kit (properties/kit) on any backend.
 *
 * Kernel phase: every kernel of the contract, forward and backward, on cases
 * drawn by fast-check, against the oracle (the reference unless told), each
 * within the float32 tolerance of the rounding model; a failure is shrunk and
 * printed with the command that replays it. Network phase: one training pass
 * of a whole network compared layer by layer. Exit code 0 when everything
 * agrees, 1 when something does not, 2 for a usage error.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MODELS, modelByName, type NetSpec } from '../../core/alexnet.ts';
import { orThrow } from '../../core/errors.ts';
import { KERNELS, type KernelName } from '../../properties/kit/kernels.ts';
import type { InitKind } from '../../properties/kit/network.ts';
import { toJson, toJunit } from '../../properties/kit/report.ts';
import { drawSeed } from '../../properties/kit/run.ts';
import { verifySession } from '../../properties/kit/session.ts';
import { BUILTIN_SPECS, type Made, makeBackend, parsePlacement } from '../../properties/kit/specs.ts';
import { choiceFlag, intFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { argumentError } from '../../core/errors.ts';
import * as E from 'fp-ts/lib/Either.js';

const NETWORKS = [...Object.keys(MODELS), 'none'] as const;

/** Words of `text` in lines of at most 92 characters, each after `indent`. */
const wrap = (text: string, indent: string): string[] => {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent.length + line.length + 1 + word.length > 92) { lines.push(indent + line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, indent + line] : lines;
};

const usageError = (msg: string): never => orThrow(E.left(argumentError(msg)));

/** --kernels: 'all', or names from the contract ('upload' and 'download' name the round trip). */
const parseKernels = (text: string): KernelName[] => {
  if (text === 'all') return [...KERNELS];
  const names = text.split(',').map((s) => s.trim()).map((s) => (s === 'upload' || s === 'download' ? 'upload/download' : s));
  const unknown = names.filter((n) => !(KERNELS as readonly string[]).includes(n));
  if (unknown.length || names.length === 0) usageError(`--kernels: ${unknown.map((u) => `'${u}'`).join(', ') || 'nothing'} ${unknown.length === 1 ? 'is not a kernel' : 'are not kernels'}; give all, or some of ${KERNELS.join(', ')}`);
  return [...new Set(names)] as KernelName[];
};

/** --cases: N cases per kernel, or Nx: N times each kernel's default count. */
const parseCases = (text: string | undefined): { cases?: number; scale?: number } => {
  if (text === undefined) return {};
  const m = /^(\d+(?:\.\d+)?)x$/.exec(text.trim());
  if (m && Number(m[1]) > 0) return { scale: Number(m[1]) };
  return { cases: intFlag('cases', text, 0, 1) };
};

export const command: Command = {
  summary: 'check a backend\'s kernels and a whole training pass against the reference (any backend: yours, TensorFlow.js\'s)',
  help: [
    'usage: alexnet verify [--backend SPEC] [--against SPEC] [--kernels all|conv2d,lrnGrad,...]',
    '                      [--cases N|Nx] [--seed S] [--network alexnet|alexnet-mini|none]',
    '                      [--json FILE] [--junit FILE] [--batch N] [--init scaled|paper] [--no-dropout]',
    '',
    'Kernel phase: every kernel of the contract (core/backend.ts), forward and backward, on',
    'cases drawn by fast-check (shapes at the edges; ties, zeros, large and tiny values), held',
    'to the oracle within the float32 tolerance of the rounding model (properties/kit/tolerance.ts);',
    'each case also checks that the inputs are not mutated and no handle is left alive. A',
    'failure is shrunk to the smallest case that still fails and printed with the command that',
    'replays it. Network phase: one training pass (forward with dropout, loss, backward)',
    'compared layer by layer. Exit code 0 when everything agrees, 1 when something does not,',
    '2 for a usage error.',
    '',
    '  --backend SPEC   the backend checked (default gpu,gpu). SPEC is one of',
    ...wrap(`${BUILTIN_SPECS.join(', ')},`, '                   '),
    '                   or a path to a module (./my-backend.ts or .js) whose createBackend()',
    '                   returns a Backend or a promise of one. Two specs separated by a comma',
    '                   are a two-tower placement for the network phase (the kernel phase runs',
    '                   on each distinct spec). ort-node and ort-wasm (ONNX Runtime) offer the',
    '                   forward kernels only: the others are reported as not offered (never a',
    '                   failure) and there is no training pass to check.',
    '  --against SPEC   the oracle (default reference). The tolerances assume an exact oracle;',
    '                   against one that computes in float32 they are doubled.',
    '  --kernels LIST   all (default), or a comma-separated list of:',
    ...wrap(KERNELS.join(', '), '                   '),
    '  --cases N        cases per kernel; Nx multiplies each kernel\'s default count (default 1x)',
    '  --seed S         fast-check seed (default: drawn and printed)',
    '  --replay PATH    with --seed and one kernel in --kernels: runs exactly the case a failure',
    '                   printed (its replay line gives both)',
    '  --network NAME   the network of the network phase: ' + NETWORKS.join(', ') + ' (default alexnet)',
    '  --model NAME     the same as --network',
    '  --json FILE      writes the whole result as JSON',
    '  --junit FILE     writes JUnit XML (a test case per kernel and per network row)',
    '  --batch N        images in the network pass (default 2)',
    '  --init KIND      network parameters: scaled (default: N(0, 2/fan-in) weights, N(0, 0.1^2)',
    '                   biases) or paper (N(0, 0.01^2), biases 1; its bias-dominated activations',
    '                   put near-ties in max-pool windows that float32 rounding reorders)',
    '  --no-dropout     an inference-mode network pass',
    '',
    'headless GL (gpu, gpu:headlessgl, tfjs-webgl) needs an X server: run under xvfb-run -a.',
  ].join('\n'),
  run: async (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: {
        backend: { type: 'string', default: 'gpu,gpu' },
        against: { type: 'string', default: 'reference' },
        kernels: { type: 'string', default: 'all' },
        cases: { type: 'string' },
        seed: { type: 'string' },
        replay: { type: 'string' },
        network: { type: 'string' },
        model: { type: 'string' },
        json: { type: 'string' },
        junit: { type: 'string' },
        batch: { type: 'string' },
        init: { type: 'string' },
        'no-dropout': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    const placement = parsePlacement('--backend', values.backend!);
    const againstSpecs = parsePlacement('--against', values.against!);
    const kernels = parseKernels(values.kernels!);
    const cases = parseCases(values.cases);
    const seed = values.seed === undefined ? drawSeed() : intFlag('seed', values.seed, 0, -(2 ** 31), 2 ** 31 - 1);
    if (values.replay !== undefined && (values.seed === undefined || kernels.length !== 1)) usageError('--replay replays one case: give it with --seed and exactly one kernel in --kernels, as the replay line printed');
    if (values.network !== undefined && values.model !== undefined && values.network !== values.model) usageError('--network and --model name the same thing; give one');
    const network = choiceFlag('network', values.network ?? values.model, NETWORKS, 'alexnet');
    const batch = intFlag('batch', values.batch, 2, 1);
    const init = choiceFlag<InitKind>('init', values.init, ['scaled', 'paper'], 'scaled');
    const spec: NetSpec | null = network === 'none' ? null : orThrow(modelByName(network));

    const made: Made[] = [];
    const make = async (s: string, name: string) => { const m = await makeBackend(s, name); made.push(m); return m; };
    try {
      const oracle = await make(againstSpecs[0], `${againstSpecs[0]} (oracle)`);
      const subjects = await Promise.all(placement.map((s, t) => make(s, placement.length === 2 ? `${s} tower ${t}` : s)));
      const againstTower = againstSpecs.length === placement.length ? againstSpecs[1] : againstSpecs[0];
      const result = await verifySession({
        subjects, oracle, against: againstSpecs, kernels, seed, replay: values.replay, ...cases,
        oracleTower: async () => (await make(againstTower, `${againstTower} (oracle) tower 1`)).backend,
        network: spec, batch, init, train: !values['no-dropout'],
        print: (line) => console.log(line),
        progress: (line) => process.stderr.write(`  ${line}\n`),
      });
      if (values.json) writeFileSync(values.json, toJson(result));
      if (values.junit) writeFileSync(values.junit, toJunit(result));
      return result.ok ? 0 : 1;
    } finally {
      for (const m of made) m.close();
    }
  },
};
