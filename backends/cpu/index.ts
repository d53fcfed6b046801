/**
 * A fast CPU backend: the same kernels as the reference, in float32, with
 * convolutions lowered to matrix products (im2col / col2im, ./conv.ts). The
 * products run in a WebAssembly SIMD kernel (./gemm.wat, through ./simd.ts),
 * with plain contiguous loops (./gemm.ts) for shapes too small to pay for the
 * copies. LRN runs over whole channel planes (./lrn.ts), the element-wise
 * kernels as tight loops (./pointwise.ts). The convolutions, LRN, ReLU,
 * pooling and the update share their work between threads, one per core
 * (./threads.ts); the fully connected layers, small at these batch sizes, stay
 * on the calling thread. It is held to the reference by
 * properties/cpu-backend.test.ts, and two threads to one by
 * properties/cpu-threads.test.ts.
 */
import type { Backend, ConvParams, Handle, LossResult, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { own } from '../../core/backend.ts';
import { type Shape, sizeOf, Tensor } from '../../core/tensor.ts';
import { biasGrad } from '../../reference/conv.ts';
import { add, concat, slice } from '../../reference/plumbing.ts';
import { softmaxCrossEntropy } from '../../reference/softmax.ts';
import { geometry } from './conv.ts';
import type { F32 } from './gemm.ts';
import { multiply, poolShape } from './pointwise.ts';
import { forget, simdGemmTN as gemmTN, simdLinear, simdLinearGradInput } from './simd.ts';
import { defaultThreadCount, sharedF32, type Threads, threadsFor } from './threads.ts';

class CpuHandle implements Handle {
  disposed = false;
  constructor(readonly owner: CpuBackend, readonly tensor: Tensor) {}
  get shape(): Shape { return this.tensor.shape; }
}

/** Element-wise kernels smaller than this are not worth a message to another thread. */
const SPLIT_ELEMENTS = 1 << 16;

/**
 * Results this large (floats) come from a pool of the buffers of disposed
 * handles: a fresh array of fc6's size costs more in first-touch page faults
 * than the kernel that fills it. The pool holds at most POOL_FLOATS.
 */
const POOL_MIN = 1 << 18;
const POOL_FLOATS = 1 << 28;

/** A buffer the backend allocated: how many live handles see it, and whether a caller holds it (a download). */
interface Use { handles: number; escaped: boolean }

export interface CpuOptions {
  /** Shown in errors and transfer logs (default 'cpu'). */
  readonly name?: string;
  /** Threads to share each batch between (default ALEXNET_CPU_THREADS, else one per core, at most 8). */
  readonly threads?: number;
}

export class CpuBackend implements Backend {
  readonly name: string;
  private readonly pool: Threads;

  constructor(opts: CpuOptions = {}) {
    this.name = opts.name ?? 'cpu';
    const n = opts.threads ?? defaultThreadCount();
    if (!Number.isInteger(n) || n < 1) throw new Error(`cpu backend: threads must be a whole number of at least 1, not ${n}`);
    this.pool = threadsFor(n);
  }

  /** How many threads share each batch. */
  get threads(): number { return this.pool.count; }

  /** The buffers this backend allocated (weakly: a handle dropped without dispose() lets its buffer go). */
  private readonly uses = new WeakMap<F32, Use>();
  /** Buffers of disposed handles, by length, for `alloc` to hand out again. */
  private readonly spare = new Map<number, F32[]>();
  private spareFloats = 0;
  /** How many results have been given a disposed handle's buffer (see POOL_MIN). */
  reused = 0;

  private t(h: Handle): Tensor { own(this, h); return (h as CpuHandle).tensor; }
  private f(h: Handle): F32 { return this.t(h).data as F32; }
  /** Wraps a tensor, in float32 and, when other threads may read it, in shared memory. */
  private h(t: Tensor): Handle {
    const f = t.as('float32');
    if (this.pool.count === 1 || f.data.buffer instanceof SharedArrayBuffer) return this.wrap(f);
    const data = this.alloc(f.size, false);
    data.set(f.data);
    return this.wrap(Tensor.trusted(f.shape, data));
  }
  private wrap(t: Tensor): Handle {
    const use = this.uses.get(t.data as F32);
    if (use) use.handles++;
    return new CpuHandle(this, t);
  }
  /** n floats, zero unless `zero` is false (for results the kernel writes in full). */
  private alloc(n: number, zero = true): F32 {
    let data = n >= POOL_MIN ? this.spare.get(n)?.pop() : undefined;
    if (data) {
      this.reused++;
      this.spareFloats -= n;
      if (zero) data.fill(0);
    } else {
      data = this.pool.count === 1 ? new Float32Array(n) : sharedF32(n);
    }
    if (n >= POOL_MIN) this.uses.set(data, { handles: 0, escaped: false });
    return data;
  }
  private make(shape: Shape, data: F32): Handle { return this.wrap(Tensor.trusted(shape, data)); }

  upload(t: Tensor): Handle { return this.h(t); }
  /** The caller gets its own copy in ordinary memory when the data is shared between threads. */
  download(h: Handle): Tensor {
    const t = this.t(h);
    if (t.data.buffer instanceof SharedArrayBuffer) return Tensor.trusted(t.shape, Float32Array.from(t.data));
    const use = this.uses.get(t.data as F32);
    if (use) use.escaped = true; // the caller holds these values now: never reused
    return t;
  }
  /** The buffer goes back to the pool when no live handle sees it (a reshape shares it) and no caller holds it. */
  dispose(h: Handle): void {
    own(this, h);
    const c = h as CpuHandle;
    if (c.disposed) return;
    c.disposed = true;
    const data = c.tensor.data as F32;
    const use = this.uses.get(data);
    if (!use || --use.handles > 0 || use.escaped) return;
    this.uses.delete(data);
    if (this.spareFloats + data.length > POOL_FLOATS) return;
    forget(data); // its values will change: no resident copy of it may be read again
    const list = this.spare.get(data.length) ?? [];
    list.push(data);
    this.spare.set(data.length, list);
    this.spareFloats += data.length;
  }
  liveCount(): number { return 0; }

  reshape(x: Handle, shape: Shape): Handle { return this.make(shape, this.f(x)); }
  private readonly allocFor = (_: unknown, n: number): F32 => this.alloc(n);
  concat(xs: readonly Handle[]): Handle { return this.h(concat(xs.map((x) => this.t(x)), this.allocFor)); }
  slice(x: Handle, start: number, count: number): Handle { return this.h(slice(this.t(x), start, count, this.allocFor)); }
  add(a: Handle, b: Handle): Handle { return this.h(add(this.t(a), this.t(b))); }

  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle {
    const g = geometry(x.shape, w.shape, p);
    const y = this.alloc(g.N * g.F * g.cols, false);
    this.pool.run('conv', { x: this.f(x), w: this.f(w), b: this.f(b), y, g }, g.N);
    return this.make([g.N, g.F, g.OH, g.OW], y);
  }

  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle {
    const g = geometry(xShape, w.shape, p);
    const dx = this.alloc(sizeOf(xShape));
    this.pool.run('convGradInput', { dy: this.f(dy), w: this.f(w), dx, g }, g.N);
    return this.make(xShape, dx);
  }

  /** Each share adds its images' gradient into its own buffer; the buffers are summed in share order. */
  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle {
    const g = geometry(x.shape, wShape, p);
    const shares = this.pool.sharesFor(g.N);
    const partials = Array.from({ length: shares }, () => this.alloc(sizeOf(wShape)));
    this.pool.run('convGradFilter', { x: this.f(x), dy: this.f(dy), partials, g }, g.N, shares);
    const dw = partials[0];
    for (let s = 1; s < shares; s++) {
      const part = partials[s];
      for (let i = 0; i < dw.length; i++) dw[i] += part[i];
    }
    return this.make(wShape, dw);
  }

  biasGrad(dy: Handle): Handle { return this.h(biasGrad(this.t(dy))); }

  /** The weights stay in the product's memory between calls (simd.ts), fc6's 151 MB read there at every batch. */
  linear(x: Handle, w: Handle, b: Handle): Handle {
    const [N, K] = x.shape;
    const M = w.shape[0];
    const bs = this.f(b);
    const y = this.alloc(N * M, false);
    for (let n = 0; n < N; n++) y.set(bs, n * M);
    simdLinear(N, M, K, this.f(x), this.f(w), y);
    return this.make([N, M], y);
  }

  linearGradInput(dy: Handle, w: Handle): Handle {
    const [N, M] = dy.shape;
    const K = w.shape[1];
    const dx = this.alloc(N * K);
    simdLinearGradInput(N, K, M, this.f(dy), this.f(w), dx);
    return this.make([N, K], dx);
  }

  linearGradWeight(x: Handle, dy: Handle): Handle {
    const [N, K] = x.shape;
    const M = dy.shape[1];
    const dw = this.alloc(M * K);
    gemmTN(M, K, N, this.f(dy), 0, this.f(x), 0, dw, 0);
    return this.make([M, K], dw);
  }

  /** Shares for an element-wise kernel over `n` elements: one unless it is big enough to split. */
  private elementShares(n: number): number { return n >= SPLIT_ELEMENTS ? this.pool.sharesFor(n) : 1; }

  relu(x: Handle): Handle {
    const xs = this.f(x);
    const y = this.alloc(xs.length, false);
    this.pool.run('relu', { x: xs, y }, xs.length, this.elementShares(xs.length));
    return this.make(x.shape, y);
  }
  reluGrad(y: Handle, dy: Handle): Handle {
    const ys = this.f(y);
    const dx = this.alloc(ys.length, false);
    this.pool.run('reluGrad', { y: ys, dy: this.f(dy), dx }, ys.length, this.elementShares(ys.length));
    return this.make(y.shape, dx);
  }
  lrn(x: Handle, p: LrnParams): Handle {
    const xs = this.f(x);
    const y = this.alloc(xs.length);
    this.pool.run('lrn', { x: xs, y, shape: x.shape, p }, x.shape[0], this.batchShares(x.shape[0], xs.length));
    return this.make(x.shape, y);
  }
  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle {
    const xs = this.f(x);
    const dx = this.alloc(xs.length);
    this.pool.run('lrnGrad', { x: xs, dy: this.f(dy), dx, shape: x.shape, p }, x.shape[0], this.batchShares(x.shape[0], xs.length));
    return this.make(x.shape, dx);
  }
  maxPool(x: Handle, p: PoolParams): Handle {
    const shape = poolShape(x.shape, p);
    const y = this.alloc(sizeOf(shape));
    const planes = x.shape[0] * x.shape[1];
    this.pool.run('maxPool', { x: this.f(x), y, shape: x.shape, p }, planes, this.batchShares(planes, sizeOf(x.shape)));
    return this.make(shape, y);
  }
  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle {
    const dx = this.alloc(sizeOf(x.shape));
    const planes = x.shape[0] * x.shape[1];
    this.pool.run('maxPoolGrad', { x: this.f(x), dy: this.f(dy), dx, shape: x.shape, p }, planes, this.batchShares(planes, dx.length));
    return this.make(x.shape, dx);
  }
  /** Shares over `units` (images or planes) of a kernel touching `elements` values. */
  private batchShares(units: number, elements: number): number { return elements >= SPLIT_ELEMENTS ? this.pool.sharesFor(units) : 1; }

  dropout(x: Handle, mask: Handle): Handle { return this.h(Tensor.trusted(x.shape, multiply(this.f(x), this.f(mask)))); }
  dropoutGrad(dy: Handle, mask: Handle): Handle { return this.h(Tensor.trusted(dy.shape, multiply(this.f(dy), this.f(mask)))); }

  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult {
    const r = softmaxCrossEntropy(this.t(logits), labels);
    return { loss: r.loss, probs: this.h(r.probs), dlogits: this.h(r.dlogits) };
  }
  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle } {
    const ws = this.f(w);
    const [wn, vn] = [this.alloc(ws.length, false), this.alloc(ws.length, false)];
    this.pool.run('sgd', { w: ws, v: this.f(v), g: this.f(g), wn, vn, p }, ws.length, this.elementShares(ws.length));
    return { w: this.make(w.shape, wn), v: this.make(v.shape, vn) };
  }
}

export { defaultThreadCount } from './threads.ts';

/** A CPU backend; `createCpuBackend('cpu1')` names it, or pass options. */
export const createCpuBackend = (opts?: string | CpuOptions): CpuBackend =>
  new CpuBackend(typeof opts === 'string' ? { name: opts } : opts);
