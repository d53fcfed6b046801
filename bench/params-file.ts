/**
 * The seeded initial parameters, drawn once per run and shared with every
 * worker through a scratch file (drawing 61 million Gaussians takes seconds;
 * reading them back takes a fraction of that). The file is the parameters in
 * `parameterShapes` order as raw float32, nothing else.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { describe, type NetSpec } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { initParams, type Params, parameterShapes } from '../core/params.ts';
import { sizeOf, Tensor } from '../core/tensor.ts';

export const writeParamsFile = (file: string, spec: NetSpec, seed: number): void => {
  const params = initParams(spec, seed);
  const fd = openSync(file, 'w');
  try {
    for (const [name] of parameterShapes(orThrow(describe(spec)))) {
      const d = params.get(name)!.data as Float32Array;
      writeSync(fd, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  } finally {
    closeSync(fd);
  }
};

export const readParamsFile = (file: string, spec: NetSpec): Params => {
  const out = new Map<string, Tensor>();
  const fd = openSync(file, 'r');
  try {
    for (const [name, shape] of parameterShapes(orThrow(describe(spec)))) {
      const d = new Float32Array(sizeOf(shape));
      const bytes = new Uint8Array(d.buffer);
      let at = 0;
      while (at < bytes.length) {
        const n = readSync(fd, bytes, at, bytes.length - at, null);
        if (n === 0) throw new Error(`${file} ends before parameter ${name}; it was not written for ${spec.name}`);
        at += n;
      }
      out.set(name, Tensor.trusted(shape, d));
    }
  } finally {
    closeSync(fd);
  }
  return out;
};
