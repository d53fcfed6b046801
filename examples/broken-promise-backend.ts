/**
 * examples/promise-backend.ts with one kernel broken on purpose:
 *
 *   npx tsx cli/alexnet.ts verify --backend ./examples/broken-promise-backend.ts --network none
 *
 * Its max-pooling gradient sends each window's gradient to the last of its
 * largest values where the contract says the first (core/backend.ts): a `>=`
 * where `>` belongs, a slip that only ties show, and after a ReLU a pooling
 * window of zeros is nothing but ties. Verify names the kernel and shrinks the
 * case, exactly as it does for a synchronous backend.
 */
import type { AsyncBackend, Handle, PoolParams } from '../core/backend.ts';
import { outSize } from '../core/backend.ts';
import { Tensor } from '../core/tensor.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { promised } from './promise-backend.ts';

export const createBackend = (name = 'reference behind promises, last-maximum pooling gradient'): AsyncBackend => {
  const base = createReferenceBackend(name);
  const backend = promised(base);
  const maxPoolGrad = (x: Handle, dy: Handle, p: PoolParams): Handle => {
    const [N, C, H, W] = x.shape;
    const xs = base.download(x).data;
    const dys = base.download(dy).data;
    const OH = outSize(H, p.size, p.stride, 0);
    const OW = outSize(W, p.size, p.stride, 0);
    const dx = new Float32Array(xs.length);
    for (let nc = 0; nc < N * C; nc++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let arg = -1;
          for (let ky = 0; ky < p.size; ky++) {
            for (let kx = 0; kx < p.size; kx++) {
              const i = (nc * H + oy * p.stride + ky) * W + ox * p.stride + kx;
              if (arg < 0 || xs[i] >= xs[arg]) arg = i; // the slip: >= where the first maximum needs >
            }
          }
          dx[arg] += dys[(nc * OH + oy) * OW + ox];
        }
      }
    }
    return base.upload(Tensor.trusted(x.shape, dx));
  };
  return { ...backend, maxPoolGrad: async (x, dy, p) => maxPoolGrad(x, dy, p) };
};
