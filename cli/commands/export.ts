/**
 * `alexnet export --onnx FILE`: a checkpoint's network as an ONNX model, for
 * ONNX Runtime and every other runtime that reads ONNX (core/onnx/export.ts;
 * the mapping is in docs/checkpoints.md).
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { writeAtomic } from '../../core/checkpoint.ts';
import { argumentError, orThrow } from '../../core/errors.ts';
import { checkpointToOnnx } from '../../core/onnx/export.ts';
import { OPSET } from '../../core/onnx/proto.ts';
import type { Command } from '../command.ts';
import { MODEL_NAMES } from '../data.ts';
import { DEFAULT_CHECKPOINT, openCheckpoint } from '../trained.ts';

export const command: Command = {
  summary: 'write a checkpoint\'s network as an ONNX model (for ONNX Runtime and others)',
  help: [
    'usage: alexnet export --onnx FILE [--checkpoint PATH] [--model NAME]',
    '',
    `Writes the checkpoint's network as an ONNX model (opset ${OPSET}, a dynamic batch, inference:`,
    'no dropout), its weights as initializers under the checkpoint\'s names. Input "input"',
    '[batch, C, crop, crop] (the crop minus the same crop of the checkpoint\'s mean image),',
    'output "logits" [batch, classes]. docs/checkpoints.md gives the mapping.',
    '',
    '  --onnx FILE        where to write the model (written atomically)',
    `  --checkpoint PATH  a checkpoint written by alexnet train (default ${DEFAULT_CHECKPOINT})`,
    `  --model NAME       refuse a checkpoint of any other model (${MODEL_NAMES.join(' | ')})`,
  ].join('\n'),
  run: async (argv) => {
    const { values: v } = parseArgs({ args: argv, strict: true, options: { onnx: { type: 'string' }, checkpoint: { type: 'string' }, model: { type: 'string' } } });
    if (v.onnx === undefined || v.onnx === '') orThrow(E.left(argumentError('export needs --onnx FILE, the model to write (e.g. --onnx alexnet.onnx)')));
    const ck = openCheckpoint(v);
    const bytes = checkpointToOnnx(ck, { producerVersion: await packageVersion() });
    try {
      writeAtomic(v.onnx!, bytes);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      orThrow(E.left(argumentError(`cannot write ${v.onnx}: ${err.code === 'ENOENT' ? 'its folder does not exist' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a folder' : err.message}; give --onnx a file in a writable folder`)));
    }
    console.log(`wrote ${v.onnx}: ${ck.spec.name}, ONNX opset ${OPSET}, ${(bytes.length / 1e6).toFixed(1)} MB, input [batch, ${ck.spec.input.join(', ')}] -> logits [batch, ${ck.spec.classes}]`);
    return 0;
  },
};

/** The package's version, recorded in the model: package.json two folders up in the source tree, three in dist/. */
const packageVersion = async (): Promise<string> => {
  const { readFileSync } = await import('node:fs');
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const p = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (p.name === 'alexnet-ts' && p.version) return p.version;
    } catch { /* not there */ }
  }
  return '';
};
