/**
 * The three matrix-product shapes that convolution and fully connected layers
 * reduce to, on row-major Float32Arrays, each written so its innermost loop
 * walks memory contiguously (which is what V8 turns into fast code):
 *
 *   gemmNN: C[M,N] (+)= A[M,K] B[K,N]      inner loop: axpy over a row of B
 *   gemmNT: C[M,N] (+)= A[M,K] B[N,K]^T    inner loop: dot of two rows
 *   gemmTN: C[M,N] (+)= A[K,M]^T B[K,N]    inner loop: axpy over a row of B
 *
 * Offsets let callers address sub-matrices (one image, one group) without copies.
 * Four rows of C are produced together so each loaded row of B serves four.
 */
export type F32 = Float32Array;

export const gemmNN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const c1 = c0 + i * N, c2 = c1 + N, c3 = c2 + N, c4 = c3 + N;
    const r1 = a0 + i * K, r2 = r1 + K, r3 = r2 + K, r4 = r3 + K;
    for (let k = 0; k < K; k++) {
      const x1 = A[r1 + k], x2 = A[r2 + k], x3 = A[r3 + k], x4 = A[r4 + k];
      const bk = b0 + k * N;
      for (let j = 0; j < N; j++) {
        const b = B[bk + j];
        C[c1 + j] += x1 * b;
        C[c2 + j] += x2 * b;
        C[c3 + j] += x3 * b;
        C[c4 + j] += x4 * b;
      }
    }
  }
  for (; i < M; i++) {
    const ci = c0 + i * N;
    for (let k = 0; k < K; k++) {
      const x = A[a0 + i * K + k];
      const bk = b0 + k * N;
      for (let j = 0; j < N; j++) C[ci + j] += x * B[bk + j];
    }
  }
};

export const gemmNT = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  for (let i = 0; i < M; i++) {
    const ai = a0 + i * K;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b1 = b0 + j * K, b2 = b1 + K, b3 = b2 + K, b4 = b3 + K;
      let s1 = 0, s2 = 0, s3 = 0, s4 = 0;
      for (let k = 0; k < K; k++) {
        const a = A[ai + k];
        s1 += a * B[b1 + k];
        s2 += a * B[b2 + k];
        s3 += a * B[b3 + k];
        s4 += a * B[b4 + k];
      }
      const c = c0 + i * N + j;
      C[c] += s1; C[c + 1] += s2; C[c + 2] += s3; C[c + 3] += s4;
    }
    for (; j < N; j++) {
      const bj = b0 + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[ai + k] * B[bj + k];
      C[c0 + i * N + j] += s;
    }
  }
};

export const gemmTN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  for (let k = 0; k < K; k++) {
    const ak = a0 + k * M;
    const bk = b0 + k * N;
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const x1 = A[ak + i], x2 = A[ak + i + 1], x3 = A[ak + i + 2], x4 = A[ak + i + 3];
      const c1 = c0 + i * N, c2 = c1 + N, c3 = c2 + N, c4 = c3 + N;
      for (let j = 0; j < N; j++) {
        const b = B[bk + j];
        C[c1 + j] += x1 * b;
        C[c2 + j] += x2 * b;
        C[c3 + j] += x3 * b;
        C[c4 + j] += x4 * b;
      }
    }
    for (; i < M; i++) {
      const x = A[ak + i];
      const ci = c0 + i * N;
      for (let j = 0; j < N; j++) C[ci + j] += x * B[bk + j];
    }
  }
};
