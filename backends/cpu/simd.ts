/**
 * Matrix products through the WebAssembly SIMD kernel (gemm.wat), with the
 * same signatures as the plain versions in gemm.ts. Operands are copied into
 * the module's memory as A [M, K] and B [K, N] (transposing where the shape
 * asks), B and C with their columns padded with zeros to a multiple of the
 * kernel's 8, so the kernel computes every column; the leftover M % 4 rows
 * are finished here in plain code, in float32 as the kernel rounds.
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

/** Columns of B and C in the module's memory: N rounded up to the kernel's 8, the padding zero. */
const padded = (N: number): number => (N + 7) & ~7;

/**
 * C (+)= A B with A at heap[0..M*K) and B at heap[M*K..) as [K, ldb] (ldb =
 * padded(N), zero beyond column N), C copied in and out with the same
 * padding. The kernel computes every column; the last M % 4 rows are
 * finished here in plain code.
 */
const run = (M: number, N: number, K: number, C: F32, c0: number): void => {
  const ld = padded(N);
  const ob = M * K;
  const oc = ob + K * ld;
  if (ld === N) heap.set(C.subarray(c0, c0 + M * N), oc);
  else for (let i = 0; i < M; i++) heap.set(C.subarray(c0 + i * N, c0 + (i + 1) * N), oc + i * ld);
  const M4 = M >> 2;
  kernel(M4, ld >> 3, K, 0, ob * 4, oc * 4, ld, ld);
  for (let i = M4 * 4; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = Math.fround(heap[oc + i * ld + j]);
      for (let k = 0; k < K; k++) s = Math.fround(s + Math.fround(heap[i * K + k] * heap[ob + k * ld + j]));
      heap[oc + i * ld + j] = s;
    }
  }
  if (ld === N) C.set(heap.subarray(oc, oc + M * N), c0);
  else for (let i = 0; i < M; i++) C.set(heap.subarray(oc + i * ld, oc + i * ld + N), c0 + i * N);
};

/** Room for A [M, K], B [K, padded N] and C [M, padded N]; B's padding zeroed. */
const prepare = (M: number, N: number, K: number): number => {
  const ld = padded(N);
  reserve(M * K + K * ld + M * ld);
  if (ld !== N) heap.fill(0, M * K, M * K + K * ld);
  return ld;
};

/** B [K, N] from B (row-major, at b0) into the module's memory at B's place. */
const placeB = (M: number, N: number, K: number, ld: number, B: F32, b0: number): void => {
  const ob = M * K;
  if (ld === N) heap.set(B.subarray(b0, b0 + K * N), ob);
  else for (let k = 0; k < K; k++) heap.set(B.subarray(b0 + k * N, b0 + (k + 1) * N), ob + k * ld);
};

export const simdGemmNN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmNN(M, N, K, A, a0, B, b0, C, c0);
  const ld = prepare(M, N, K);
  heap.set(A.subarray(a0, a0 + M * K), 0);
  placeB(M, N, K, ld, B, b0);
  run(M, N, K, C, c0);
};

/** C (+)= A B^T, B given as [N, K]. */
export const simdGemmNT = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmNT(M, N, K, A, a0, B, b0, C, c0);
  const ld = prepare(M, N, K);
  heap.set(A.subarray(a0, a0 + M * K), 0);
  const ob = M * K;
  for (let j = 0; j < N; j++) {
    const bj = b0 + j * K;
    for (let k = 0; k < K; k++) heap[ob + k * ld + j] = B[bj + k];
  }
  run(M, N, K, C, c0);
};

/** C (+)= A^T B, A given as [K, M]. */
export const simdGemmTN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmTN(M, N, K, A, a0, B, b0, C, c0);
  const ld = prepare(M, N, K);
  for (let k = 0; k < K; k++) {
    const ak = a0 + k * M;
    for (let i = 0; i < M; i++) heap[i * K + k] = A[ak + i];
  }
  placeB(M, N, K, ld, B, b0);
  run(M, N, K, C, c0);
};
