/**
 * LRN (paper section 3.3) vectorised over each channel plane: the window sums
 * run over whole planes at a time, so the inner loops are contiguous. Same
 * formulas as reference/lrn.ts. Each works on images [lo, hi) of the batch and
 * writes into the caller's output, so threads can share a batch.
 */
import type { LrnParams } from '../../core/backend.ts';
import type { F32 } from './gemm.ts';

/** s[c][q] = k + alpha * sum over the window of a[j][q]^2, for one image. */
const windowSums = (a: F32, a0: number, C: number, plane: number, p: LrnParams, s: F32): void => {
  const half = Math.floor(p.n / 2);
  for (let c = 0; c < C; c++) {
    const sc = c * plane;
    s.fill(p.k, sc, sc + plane);
    for (let j = Math.max(0, c - half); j <= Math.min(C - 1, c + half); j++) {
      const aj = a0 + j * plane;
      for (let q = 0; q < plane; q++) {
        const v = a[aj + q];
        s[sc + q] += p.alpha * v * v;
      }
    }
  }
};

/** s^-beta; the paper's beta = 3/4 as 1 / (sqrt(s) * sqrt(sqrt(s))), much cheaper than pow. */
const powNegBeta = (beta: number): ((s: number) => number) =>
  beta === 0.75 ? (s) => { const r = Math.sqrt(s); return 1 / (r * Math.sqrt(r)); } : (s) => Math.pow(s, -beta);

export const lrnForward = (x: F32, y: F32, shape: readonly number[], p: LrnParams, lo: number, hi: number): void => {
  const [N, C] = shape;
  const plane = x.length / (N * C);
  const s = new Float32Array(C * plane);
  const pw = powNegBeta(p.beta);
  for (let n = lo; n < hi; n++) {
    const x0 = n * C * plane;
    windowSums(x, x0, C, plane, p, s);
    for (let i = 0; i < C * plane; i++) y[x0 + i] = x[x0 + i] * pw(s[i]);
  }
};

export const lrnBackward = (x: F32, dy: F32, dx: F32, shape: readonly number[], p: LrnParams, lo: number, hi: number): void => {
  const [N, C] = shape;
  const plane = x.length / (N * C);
  const half = Math.floor(p.n / 2);
  const s = new Float32Array(C * plane);
  const t = new Float32Array(C * plane);
  const pw = powNegBeta(p.beta);
  for (let n = lo; n < hi; n++) {
    const x0 = n * C * plane;
    windowSums(x, x0, C, plane, p, s);
    // t[i] = dy[i] * a[i] * s[i]^(-beta - 1); dx[m] = dy[m] s[m]^-beta - 2 alpha beta a[m] sum_{i in W(m)} t[i]
    for (let i = 0; i < C * plane; i++) {
      const sb = pw(s[i]);
      t[i] = (dy[x0 + i] * x[x0 + i] * sb) / s[i];
      dx[x0 + i] = dy[x0 + i] * sb;
    }
    const k = 2 * p.alpha * p.beta;
    for (let m = 0; m < C; m++) {
      const dm = x0 + m * plane;
      for (let i = Math.max(0, m - half); i <= Math.min(C - 1, m + half); i++) {
        const ti = i * plane;
        for (let q = 0; q < plane; q++) dx[dm + q] -= k * x[dm + q] * t[ti + q];
      }
    }
  }
};
