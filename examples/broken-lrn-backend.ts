/**
 * A backend with one kernel broken on purpose, to see what `alexnet verify`
 * says about a bug:
 *
 *   npx tsx cli/alexnet.ts verify --backend ./examples/broken-lrn-backend.ts --network none
 *
 * It is the reference backend, except that its LRN divides alpha by the window
 * size n, as cuda-convnet and Caffe do, instead of multiplying the plain sum
 * of squares by alpha as the paper's formula does. A one-line slip that a
 * trained network would barely show; the kit names the kernel, shrinks the
 * case and prints the command that replays it.
 *
 * A module for `--backend` only has to export `createBackend()`, returning a
 * Backend (core/backend.ts) or a promise of one.
 */
import type { Backend, Handle, LrnParams } from '../core/backend.ts';
import { createReferenceBackend } from '../reference/index.ts';

export const createBackend = (name = 'reference with an alpha/n LRN'): Backend => {
  const backend = createReferenceBackend(name);
  const lrn = backend.lrn.bind(backend);
  // The slip: alpha / n where the paper has alpha.
  backend.lrn = (x: Handle, p: LrnParams) => lrn(x, { ...p, alpha: p.alpha / p.n });
  return backend;
};
