/** fast-check arbitraries shared by the property files. */
import fc from 'fast-check';
import type { ConvParams } from '../core/backend.ts';
import { outSize } from '../core/backend.ts';
import { randn } from './support.ts';

/** Convolution geometries: batch, groups, channels per group, kernel, stride, padding, map size. */
export const convCase = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    Cg: fc.integer({ min: 1, max: 3 }),
    Fg: fc.integer({ min: 1, max: 3 }),
    K: fc.integer({ min: 1, max: 4 }),
    stride: fc.integer({ min: 1, max: 3 }),
    pad: fc.integer({ min: 0, max: 2 }),
    extraH: fc.integer({ min: 0, max: 5 }),
    extraW: fc.integer({ min: 0, max: 5 }),
    seed: fc.integer(),
  })
  .filter((c) => c.pad < c.K)
  .map((c) => {
    const Hh = Math.max(1, c.K - 2 * c.pad + c.extraH);
    const Ww = Math.max(1, c.K - 2 * c.pad + c.extraW);
    const p: ConvParams = { stride: c.stride, pad: c.pad, groups: c.groups };
    const C = c.Cg * c.groups;
    const F = c.Fg * c.groups;
    return {
      p,
      x: randn([c.N, C, Hh, Ww], c.seed),
      w: randn([F, c.Cg, c.K, c.K], c.seed + 1),
      b: randn([F], c.seed + 2),
      t: randn([c.N, F, outSize(Hh, c.K, c.stride, c.pad), outSize(Ww, c.K, c.stride, c.pad)], c.seed + 3),
    };
  });

