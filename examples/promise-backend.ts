/**
 * A backend that answers only with promises, as a WebGPU backend does (every
 * read of a GPU buffer is `mapAsync`) and as any runtime whose API is promises
 * does:
 *
 *   npx tsx cli/alexnet.ts verify --backend ./examples/promise-backend.ts --network alexnet-mini
 *
 * It is the reference backend behind promises: each method waits a turn of the
 * event loop's microtasks, then answers. `alexnet verify` sees that its
 * answers are promises and runs it in a worker thread of its own (a tower,
 * backends/remote), which awaits every answer in the order the calls were made;
 * the kit and the executor then see an ordinary synchronous `Backend`.
 *
 * `promised` wraps any synchronous backend so; a real asynchronous backend
 * implements `AsyncBackend` (core/backend.ts) itself, returning a promise
 * wherever its work completes later. examples/broken-promise-backend.ts is
 * the same module with one kernel broken, to see what verify says of it.
 */
import type { AsyncBackend, Backend } from '../core/backend.ts';
import { createReferenceBackend } from '../reference/index.ts';

/** `f`'s answer, a turn later. */
const later = async <T>(f: () => T): Promise<T> => {
  await null;
  return f();
};

/** Every method of `base`, answering with a promise. */
export const promised = (base: Backend): AsyncBackend => ({
  name: base.name,
  upload: (t) => later(() => base.upload(t)),
  download: (h) => later(() => base.download(h)),
  dispose: (h) => later(() => base.dispose(h)),
  liveCount: () => later(() => base.liveCount()),
  reshape: (x, shape) => later(() => base.reshape(x, shape)),
  concat: (xs) => later(() => base.concat(xs)),
  slice: (x, start, count) => later(() => base.slice(x, start, count)),
  add: (a, b) => later(() => base.add(a, b)),
  conv2d: (x, w, b, p) => later(() => base.conv2d(x, w, b, p)),
  conv2dGradInput: (dy, w, xShape, p) => later(() => base.conv2dGradInput(dy, w, xShape, p)),
  conv2dGradFilter: (x, dy, wShape, p) => later(() => base.conv2dGradFilter(x, dy, wShape, p)),
  biasGrad: (dy) => later(() => base.biasGrad(dy)),
  linear: (x, w, b) => later(() => base.linear(x, w, b)),
  linearGradInput: (dy, w) => later(() => base.linearGradInput(dy, w)),
  linearGradWeight: (x, dy) => later(() => base.linearGradWeight(x, dy)),
  relu: (x) => later(() => base.relu(x)),
  reluGrad: (y, dy) => later(() => base.reluGrad(y, dy)),
  lrn: (x, p) => later(() => base.lrn(x, p)),
  lrnGrad: (x, dy, p) => later(() => base.lrnGrad(x, dy, p)),
  maxPool: (x, p) => later(() => base.maxPool(x, p)),
  maxPoolGrad: (x, dy, p) => later(() => base.maxPoolGrad(x, dy, p)),
  dropout: (x, mask) => later(() => base.dropout(x, mask)),
  dropoutGrad: (dy, mask) => later(() => base.dropoutGrad(dy, mask)),
  softmaxCrossEntropy: (logits, labels) => later(() => {
    const r = base.softmaxCrossEntropy(logits, labels);
    // The loss is a read of the device, so it comes later too.
    return { probs: r.probs, dlogits: r.dlogits, loss: later(() => r.loss) };
  }),
  sgdUpdate: (w, v, g, p) => later(() => base.sgdUpdate(w, v, g, p)),
});

export const createBackend = (name = 'reference behind promises'): AsyncBackend => promised(createReferenceBackend(name));
