/**
 * Matrix products through the WebAssembly SIMD kernel (gemm.wat), with the
 * same signatures as the plain versions in gemm.ts. Operands are copied into
 * the module's memory as A [M, K] and B [K, N] (transposing where the shape
 * asks), the kernel computes the largest 4 x 8-tiled block of C, and the
 * leftover rows and columns are finished here in plain code.
 */
import { type F32, gemmNN, gemmNT, gemmTN } from './gemm.ts';
import { GEMM_WASM_BASE64 } from './gemm.wasm.ts';

type Kernel = (M4: number, N8: number, K: number, a: number, b: number, c: number, ldb: number, ldc: number) => void;

/** The few WebAssembly JS-API members used here (TypeScript's node types do not declare them). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { memory: WasmMemory; gemm: Kernel } };
}
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }

const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmApi };
const instance = new wasm.Instance(new wasm.Module(Buffer.from(GEMM_WASM_BASE64, 'base64')));
const memory = instance.exports.memory;
const kernel = instance.exports.gemm;
let heap = new Float32Array(memory.buffer);

const reserve = (floats: number): void => {
  const bytes = floats * 4;
  if (memory.buffer.byteLength < bytes) {
    memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
    heap = new Float32Array(memory.buffer);
  }
};

/** Below these sizes the copies cost more than the kernel saves. */
const worthIt = (M: number, N: number, K: number) => M >= 4 && N >= 8 && K >= 4 && M * N * K >= 4096;

/** C (+)= A B with A at heap[0..M*K), B at heap[M*K..), C copied in and out. */
const run = (M: number, N: number, K: number, C: F32, c0: number): void => {
  const ob = M * K;
  const oc = ob + K * N;
  heap.set(C.subarray(c0, c0 + M * N), oc);
  const M4 = M >> 2;
  const N8 = N >> 3;
  kernel(M4, N8, K, 0, ob * 4, oc * 4, N, N);
  // Leftovers: the last N % 8 columns of every row, and the last M % 4 rows.
  const Mb = M4 * 4;
  const Nb = N8 * 8;
  for (let i = 0; i < M; i++) {
    for (let j = i < Mb ? Nb : 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += heap[i * K + k] * heap[ob + k * N + j];
      heap[oc + i * N + j] += s;
    }
  }
  C.set(heap.subarray(oc, oc + M * N), c0);
};

export const simdGemmNN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmNN(M, N, K, A, a0, B, b0, C, c0);
  reserve(M * K + K * N + M * N);
  heap.set(A.subarray(a0, a0 + M * K), 0);
  heap.set(B.subarray(b0, b0 + K * N), M * K);
  run(M, N, K, C, c0);
};

/** C (+)= A B^T, B given as [N, K]. */
export const simdGemmNT = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmNT(M, N, K, A, a0, B, b0, C, c0);
  reserve(M * K + K * N + M * N);
  heap.set(A.subarray(a0, a0 + M * K), 0);
  const ob = M * K;
  for (let j = 0; j < N; j++) {
    const bj = b0 + j * K;
    for (let k = 0; k < K; k++) heap[ob + k * N + j] = B[bj + k];
  }
  run(M, N, K, C, c0);
};

/** C (+)= A^T B, A given as [K, M]. */
export const simdGemmTN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmTN(M, N, K, A, a0, B, b0, C, c0);
  reserve(M * K + K * N + M * N);
  for (let k = 0; k < K; k++) {
    const ak = a0 + k * M;
    for (let i = 0; i < M; i++) heap[i * K + k] = A[ak + i];
  }
  heap.set(B.subarray(b0, b0 + K * N), M * K);
  run(M, N, K, C, c0);
};
