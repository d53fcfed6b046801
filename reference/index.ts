/**
 * The reference backend: every kernel of the contract as plain loops on the
 * host. Handles are host tensors; upload and download are free. It computes in
 * float64 and keeps the caller's dtype. It is the definition of correct that
 * every other backend is held to.
 */
import type { Backend, ConvParams, Handle, LossResult, LrnParams, PoolParams, SgdParams } from '../core/backend.ts';
import { own } from '../core/backend.ts';
import { type Shape, Tensor } from '../core/tensor.ts';
import { biasGrad, conv2d, conv2dGradFilter, conv2dGradInput } from './conv.ts';
import { dropout, dropoutGrad } from './dropout.ts';
import { linear, linearGradInput, linearGradWeight } from './linear.ts';
import { lrn, lrnGrad } from './lrn.ts';
import { add, concat, slice } from './plumbing.ts';
import { maxPool, maxPoolGrad } from './pool.ts';
import { relu, reluGrad } from './relu.ts';
import { sgdUpdate } from './sgd.ts';
import { softmaxCrossEntropy } from './softmax.ts';

class HostHandle implements Handle {
  constructor(readonly owner: ReferenceBackend, readonly tensor: Tensor) {}
  get shape(): Shape { return this.tensor.shape; }
}

export class ReferenceBackend implements Backend {
  constructor(readonly name = 'reference') {}

  private t(h: Handle): Tensor {
    own(this, h);
    return (h as HostHandle).tensor;
  }
  private h(t: Tensor): Handle { return new HostHandle(this, t); }

  upload(t: Tensor): Handle { return this.h(t); }
  download(h: Handle): Tensor { return this.t(h); }
  dispose(h: Handle): void { own(this, h); }
  liveCount(): number { return 0; }

  reshape(x: Handle, shape: Shape): Handle {
    const t = this.t(x);
    return this.h(Tensor.trusted(shape, t.data));
  }
  concat(xs: readonly Handle[]): Handle { return this.h(concat(xs.map((x) => this.t(x)))); }
  slice(x: Handle, start: number, count: number): Handle { return this.h(slice(this.t(x), start, count)); }
  add(a: Handle, b: Handle): Handle { return this.h(add(this.t(a), this.t(b))); }

  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle {
    return this.h(conv2d(this.t(x), this.t(w), this.t(b), p));
  }
  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle {
    return this.h(conv2dGradInput(this.t(dy), this.t(w), xShape, p));
  }
  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle {
    return this.h(conv2dGradFilter(this.t(x), this.t(dy), wShape, p));
  }
  biasGrad(dy: Handle): Handle { return this.h(biasGrad(this.t(dy))); }

  linear(x: Handle, w: Handle, b: Handle): Handle { return this.h(linear(this.t(x), this.t(w), this.t(b))); }
  linearGradInput(dy: Handle, w: Handle): Handle { return this.h(linearGradInput(this.t(dy), this.t(w))); }
  linearGradWeight(x: Handle, dy: Handle): Handle { return this.h(linearGradWeight(this.t(x), this.t(dy))); }

  relu(x: Handle): Handle { return this.h(relu(this.t(x))); }
  reluGrad(y: Handle, dy: Handle): Handle { return this.h(reluGrad(this.t(y), this.t(dy))); }
  lrn(x: Handle, p: LrnParams): Handle { return this.h(lrn(this.t(x), p)); }
  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle { return this.h(lrnGrad(this.t(x), this.t(dy), p)); }
  maxPool(x: Handle, p: PoolParams): Handle { return this.h(maxPool(this.t(x), p)); }
  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle { return this.h(maxPoolGrad(this.t(x), this.t(dy), p)); }

  dropout(x: Handle, mask: Handle): Handle { return this.h(dropout(this.t(x), this.t(mask))); }
  dropoutGrad(dy: Handle, mask: Handle): Handle { return this.h(dropoutGrad(this.t(dy), this.t(mask))); }

  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult {
    const r = softmaxCrossEntropy(this.t(logits), labels);
    return { loss: r.loss, probs: this.h(r.probs), dlogits: this.h(r.dlogits) };
  }
  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle } {
    const r = sgdUpdate(this.t(w), this.t(v), this.t(g), p);
    return { w: this.h(r.w), v: this.h(r.v) };
  }
}

export const createReferenceBackend = (name?: string): Backend => new ReferenceBackend(name);
