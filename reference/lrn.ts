/**
 * Local response normalisation across channels, the reference (paper section 3.3):
 *
 *   b[i] = a[i] / s[i]^beta,   s[i] = k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a[j]^2
 *
 * at every position (x, y), with n/2 rounded down and alpha multiplying the
 * plain sum (the paper's form; cuda-convnet and Caffe divide alpha by n).
 *
 * Backward: with W(i) the window of channel i (and m in W(i) iff i in W(m)),
 *
 *   dL/da[m] = dL/db[m] * s[m]^-beta - 2 alpha beta a[m] * sum_{i in W(m)} dL/db[i] * a[i] * s[i]^(-beta - 1)
 */
import type { LrnParams } from '../core/backend.ts';
import { allocate, Tensor } from '../core/tensor.ts';

/** Loops over every (n, x, y) column of channels; `f` gets the column's flat offsets. */
const columns = (x: Tensor, f: (offsets: (c: number) => number, C: number) => void): void => {
  const [N, C] = x.shape;
  const plane = x.size / (N * C);
  for (let n = 0; n < N; n++)
    for (let q = 0; q < plane; q++) f((c) => (n * C + c) * plane + q, C);
};

/** s[i] for every channel of one column. */
const scales = (a: Data, at: (c: number) => number, C: number, p: LrnParams): Float64Array => {
  const half = Math.floor(p.n / 2);
  const s = new Float64Array(C);
  for (let i = 0; i < C; i++) {
    let sum = 0;
    for (let j = Math.max(0, i - half); j <= Math.min(C - 1, i + half); j++) sum += a[at(j)] ** 2;
    s[i] = p.k + p.alpha * sum;
  }
  return s;
};
type Data = Tensor['data'];

export const lrn = (x: Tensor, p: LrnParams): Tensor => {
  const y = allocate(x.dtype, x.size);
  columns(x, (at, C) => {
    const s = scales(x.data, at, C, p);
    for (let i = 0; i < C; i++) y[at(i)] = x.data[at(i)] * s[i] ** -p.beta;
  });
  return Tensor.trusted(x.shape, y);
};

export const lrnGrad = (x: Tensor, dy: Tensor, p: LrnParams): Tensor => {
  const half = Math.floor(p.n / 2);
  const dx = allocate(x.dtype, x.size);
  columns(x, (at, C) => {
    const s = scales(x.data, at, C, p);
    for (let m = 0; m < C; m++) {
      let cross = 0;
      for (let i = Math.max(0, m - half); i <= Math.min(C - 1, m + half); i++) {
        cross += dy.data[at(i)] * x.data[at(i)] * s[i] ** (-p.beta - 1);
      }
      dx[at(m)] = dy.data[at(m)] * s[m] ** -p.beta - 2 * p.alpha * p.beta * x.data[at(m)] * cross;
    }
  });
  return Tensor.trusted(x.shape, dx);
};
