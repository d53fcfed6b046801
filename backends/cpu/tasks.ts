/**
 * The kernels a thread can be asked to run on its share of a batch: each takes
 * its arguments (arrays on SharedArrayBuffers, so every thread sees the same
 * memory) and a range [lo, hi), and writes only the outputs of that range.
 * The same table is loaded by the calling thread and by every worker.
 */
import type { LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { type ConvGeometry, convForward, convGradFilter, convGradInput } from './conv.ts';
import type { F32 } from './gemm.ts';
import { lrnBackward, lrnForward } from './lrn.ts';
import { maxPoolBackward, maxPoolForward, reluBackward, reluForward, sgd } from './pointwise.ts';

export interface TaskArgs {
  conv: { x: F32; w: F32; b: F32; y: F32; g: ConvGeometry };
  convGradInput: { dy: F32; w: F32; dx: F32; g: ConvGeometry };
  /** One partial filter gradient per share of the batch, summed by the caller in order. */
  convGradFilter: { x: F32; dy: F32; partials: F32[]; g: ConvGeometry };
  lrn: { x: F32; y: F32; shape: readonly number[]; p: LrnParams };
  lrnGrad: { x: F32; dy: F32; dx: F32; shape: readonly number[]; p: LrnParams };
  relu: { x: F32; y: F32 };
  reluGrad: { y: F32; dy: F32; dx: F32 };
  maxPool: { x: F32; y: F32; shape: readonly number[]; p: PoolParams };
  maxPoolGrad: { x: F32; dy: F32; dx: F32; shape: readonly number[]; p: PoolParams };
  sgd: { w: F32; v: F32; g: F32; wn: F32; vn: F32; p: SgdParams };
}
export type TaskName = keyof TaskArgs;

type Task<K extends TaskName> = (a: TaskArgs[K], lo: number, hi: number, share: number) => void;

export const TASKS: { [K in TaskName]: Task<K> } = {
  conv: (a, lo, hi) => convForward(a.x, a.w, a.b, a.y, a.g, lo, hi),
  convGradInput: (a, lo, hi) => convGradInput(a.dy, a.w, a.dx, a.g, lo, hi),
  convGradFilter: (a, lo, hi, share) => convGradFilter(a.x, a.dy, a.partials[share], a.g, lo, hi),
  lrn: (a, lo, hi) => lrnForward(a.x, a.y, a.shape, a.p, lo, hi),
  lrnGrad: (a, lo, hi) => lrnBackward(a.x, a.dy, a.dx, a.shape, a.p, lo, hi),
  relu: (a, lo, hi) => reluForward(a.x, a.y, lo, hi),
  reluGrad: (a, lo, hi) => reluBackward(a.y, a.dy, a.dx, lo, hi),
  maxPool: (a, lo, hi) => maxPoolForward(a.x, a.y, a.shape, a.p, lo, hi),
  maxPoolGrad: (a, lo, hi) => maxPoolBackward(a.x, a.dy, a.dx, a.shape, a.p, lo, hi),
  sgd: (a, lo, hi) => sgd(a.w, a.v, a.g, a.wn, a.vn, a.p, lo, hi),
};

export const runTask = <K extends TaskName>(name: K, args: TaskArgs[K], lo: number, hi: number, share: number): void => {
  const task = TASKS[name] as Task<K> | undefined;
  if (task === undefined) throw new Error(`no task named '${name}'; the tasks are ${Object.keys(TASKS).join(', ')}`);
  task(args, lo, hi, share);
};
