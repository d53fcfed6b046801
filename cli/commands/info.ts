/**
 * `alexnet info`: the layer table of a model (ALEXNET.md's table, derived from
 * the spec): output shape, parameters, multiply-adds and tower link per layer,
 * and the totals.
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { describe, type LayerInfo, macCount, MODELS, modelByName, type NetSpec, parameterCount } from '../../core/alexnet.ts';
import { argumentError, orThrow } from '../../core/errors.ts';
import type { Command } from '../command.ts';

const LINKS = { input: 'input to both towers', own: 'own tower', both: 'reads both towers' } as const;

const fmt = (n: number) => n.toLocaleString('en-US');
const dims = (s: readonly number[]) => (s.length === 3 ? `${s[1]}x${s[2]}x${s[0]}` : `${s[0]}`);

export const layerTable = (spec: NetSpec, rows: readonly LayerInfo[]): string => {
  const header = ['layer', 'output (-> pooled)', 'after', 'parameters', 'multiply-adds', 'tower link'];
  const body = rows.map((r) => [
    r.name,
    r.outShape === r.convShape ? dims(r.outShape) : `${dims(r.convShape)} -> ${dims(r.outShape)}`,
    r.spec.after.join(', ') || '-',
    fmt(r.params),
    fmt(r.macs),
    LINKS[r.spec.link],
  ]);
  const total = ['total', '', '', fmt(parameterCount(rows)), fmt(macCount(rows)), ''];
  const all = [header, ...body, total];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c >= 3 && c <= 4 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const [C, H, W] = spec.input;
  return [
    `${spec.name}: input ${H}x${W}x${C}, ${spec.classes} classes, two towers (link = which maps a layer reads)`,
    `LRN k=${spec.lrn.k} n=${spec.lrn.n} alpha=${spec.lrn.alpha} beta=${spec.lrn.beta} (alpha times the plain sum, as in the paper); max-pool ${spec.pool.size}/${spec.pool.stride}; dropout ${spec.dropout}`,
    '',
    line(header), rule, ...body.map(line), rule, line(total),
    '',
    `forward cost: ${(macCount(rows) / 1e9).toFixed(3)} G multiply-adds (${((2 * macCount(rows)) / 1e9).toFixed(2)} GFLOP) per image`,
  ].join('\n');
};

export const command: Command = {
  summary: 'print the layer table: shapes, parameters, multiply-adds, tower links',
  help: [
    'usage: alexnet info [--model NAME] [--classes K]',
    '',
    'Prints each learned layer of the model with its output shape (after pooling),',
    'parameter count, multiply-adds per image and which tower maps it reads, then totals.',
    '',
    `  --model NAME   one of: ${Object.keys(MODELS).join(', ')} (default alexnet)`,
    '  --classes K    number of output classes (default: 1000 for alexnet, 10 for alexnet-mini)',
  ].join('\n'),
  run: async (argv) => {
    const { values } = parseArgs({ args: argv, options: { model: { type: 'string', default: 'alexnet' }, classes: { type: 'string' } }, strict: true });
    const classes = values.classes === undefined ? undefined : Number(values.classes);
    if (classes !== undefined && !(Number.isInteger(classes) && classes >= 2)) {
      orThrow(E.left(argumentError(`--classes must be a whole number of at least 2, got '${values.classes}'`)));
    }
    const spec = orThrow(modelByName(values.model!, classes));
    const rows = orThrow(pipe(describe(spec)));
    console.log(layerTable(spec, rows));
    return 0;
  },
};
