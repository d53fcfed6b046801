/**
 * Matrix products through the WebAssembly SIMD kernel (gemm.wat), with the
 * same signatures as the plain versions in gemm.ts. Operands are copied into
 * the module's memory as A [M, K] and B [K, N] (transposing where the shape
 * asks), B and C with their columns padded with zeros to a multiple of the
 * kernel's 8, so the kernel computes every column; the leftover M % 4 rows
 * are finished here in plain code, in float32 as the kernel rounds. The fully
 * connected layers' weights stay in the module's memory between calls
 * (`simdLinear`, `simdLinearGradInput`).
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

/**
 * The module's memory: the resident weights first (see `resident`), then the
 * scratch where each product's operands are copied, from `base` on.
 */
let base = 0;

const reserve = (floats: number): void => {
  const bytes = (base + floats) * 4;
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
 * C (+)= A B in the module's memory: A [M, K] at float offset oa, B [K, ld]
 * at ob (ld = padded(N), zero beyond column N), C [M, ld] at oc. The kernel
 * computes every column of the first 4 * floor(M / 4) rows; the last M % 4
 * rows are finished here in plain code, in float32 as the kernel rounds.
 */
const product = (M: number, N: number, K: number, oa: number, ob: number, oc: number): void => {
  const ld = padded(N);
  const M4 = M >> 2;
  kernel(M4, ld >> 3, K, oa * 4, ob * 4, oc * 4, ld, ld);
  for (let i = M4 * 4; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = Math.fround(heap[oc + i * ld + j]);
      for (let k = 0; k < K; k++) s = Math.fround(s + Math.fround(heap[oa + i * K + k] * heap[ob + k * ld + j]));
      heap[oc + i * ld + j] = s;
    }
  }
};

/** Copies rows x cols of a row-major matrix (from m0) into the module's memory at o with row stride ld. */
const place = (rows: number, cols: number, ld: number, m: F32, m0: number, o: number): void => {
  if (ld === cols) heap.set(m.subarray(m0, m0 + rows * cols), o);
  else for (let r = 0; r < rows; r++) heap.set(m.subarray(m0 + r * cols, m0 + (r + 1) * cols), o + r * ld);
};

/** The inverse of `place`. */
const takeBack = (rows: number, cols: number, ld: number, o: number, m: F32, m0: number): void => {
  if (ld === cols) m.set(heap.subarray(o, o + rows * cols), m0);
  else for (let r = 0; r < rows; r++) m.set(heap.subarray(o + r * ld, o + r * ld + cols), m0 + r * cols);
};

/**
 * Scratch for A [M, K] (unless A is resident: `withA` false), B [K, padded N]
 * and C [M, padded N], B's padding zeroed; returns their offsets.
 */
const scratch = (M: number, N: number, K: number, withA = true): { oa: number; ob: number; oc: number; ld: number } => {
  const ld = padded(N);
  const aFloats = withA ? M * K : 0;
  reserve(aFloats + K * ld + M * ld);
  const oa = base;
  const ob = oa + aFloats;
  const oc = ob + K * ld;
  if (ld !== N) heap.fill(0, ob, oc);
  return { oa, ob, oc, ld };
};

/** C [M, N] from c0 in, C (+)= A B in the module's memory, C back out. */
const productOf = (M: number, N: number, K: number, oa: number, ob: number, oc: number, ld: number, C: F32, c0: number): void => {
  place(M, N, ld, C, c0, oc);
  product(M, N, K, oa, ob, oc);
  takeBack(M, N, ld, oc, C, c0);
};

export const simdGemmNN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmNN(M, N, K, A, a0, B, b0, C, c0);
  const { oa, ob, oc, ld } = scratch(M, N, K);
  heap.set(A.subarray(a0, a0 + M * K), oa);
  place(K, N, ld, B, b0, ob);
  productOf(M, N, K, oa, ob, oc, ld, C, c0);
};

/** C (+)= A B^T, B given as [N, K]. */
export const simdGemmNT = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmNT(M, N, K, A, a0, B, b0, C, c0);
  const { oa, ob, oc, ld } = scratch(M, N, K);
  heap.set(A.subarray(a0, a0 + M * K), oa);
  for (let j = 0; j < N; j++) {
    const bj = b0 + j * K;
    for (let k = 0; k < K; k++) heap[ob + k * ld + j] = B[bj + k];
  }
  productOf(M, N, K, oa, ob, oc, ld, C, c0);
};

/** C (+)= A^T B, A given as [K, M]. */
export const simdGemmTN = (M: number, N: number, K: number, A: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K)) return gemmTN(M, N, K, A, a0, B, b0, C, c0);
  const { oa, ob, oc, ld } = scratch(M, N, K);
  for (let k = 0; k < K; k++) {
    const ak = a0 + k * M;
    for (let i = 0; i < M; i++) heap[oa + i * K + k] = A[ak + i];
  }
  place(K, N, ld, B, b0, ob);
  productOf(M, N, K, oa, ob, oc, ld, C, c0);
};

// ---- weights kept in the module's memory: the fully connected layers', the filters ---

/**
 * One resident copy per weight length (fc6's, fc7's, fc8's matrix, each
 * convolution's filters): a weight array is copied into the module's memory
 * once, on first use, and its products (a fully connected layer's forward and
 * input gradient, a convolution's forward for every image and group) read it
 * there. A new matrix of the same length (the next training step's) takes its
 * predecessor's place. The key is the array itself: a caller that reuses an
 * array for other values calls `forget` first.
 */
const slots = new Map<number, { key: F32 | null; offset: number }>();

const resident = (w: F32): number => {
  let slot = slots.get(w.length);
  if (slot?.key === w) return slot.offset;
  if (!slot) {
    slot = { key: null, offset: base };
    slots.set(w.length, slot);
    base += w.length;
    reserve(0);
  }
  heap.set(w, slot.offset);
  slot.key = w;
  return slot.offset;
};

/**
 * C (+)= A B where A is rows [a0 / K, ...) of a weight array kept resident (a
 * convolution's filters, one group of them): only B and C are copied per call.
 */
export const simdGemmWeightsNN = (M: number, N: number, K: number, w: F32, a0: number, B: F32, b0: number, C: F32, c0: number): void => {
  if (!worthIt(M, N, K) || w.length < 1 << 16) return simdGemmNN(M, N, K, w, a0, B, b0, C, c0);
  const oa = resident(w) + a0;
  const { ob, oc, ld } = scratch(M, N, K, false);
  place(K, N, ld, B, b0, ob);
  productOf(M, N, K, oa, ob, oc, ld, C, c0);
};

/** The array's values are about to change: drop its resident copy. */
export const forget = (w: F32): void => {
  const slot = slots.get(w.length);
  if (slot?.key === w) slot.key = null;
};

/** Whether the weights of a layer of K inputs and M units go through the resident path. */
const residentShape = (M: number, K: number): boolean => M >= 4 && K >= 8 && K % 8 === 0 && M * K >= 1 << 16;

/**
 * y [N, M] (+)= x [N, K] w^T (w [M, K]), as y^T = w x^T with w resident: the
 * weights are neither copied nor transposed per call; the batch is padded to
 * the kernel's 8 columns.
 */
export const simdLinear = (N: number, M: number, K: number, x: F32, w: F32, y: F32): void => {
  if (!residentShape(M, K)) return simdGemmNT(N, M, K, x, 0, w, 0, y, 0);
  const ow = resident(w);
  const ld = padded(N);
  reserve(K * ld + M * ld);
  const ob = base;
  const oc = ob + K * ld;
  heap.fill(0, ob, oc);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) heap[ob + k * ld + n] = x[n * K + k];
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) heap[oc + m * ld + n] = y[n * M + m];
  product(M, N, K, ow, ob, oc);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) y[n * M + m] = heap[oc + m * ld + n];
};

/**
 * dx [N, K] (+)= dy [N, M] w (w [M, K]) with w resident as the product's B
 * (its rows are K long, a multiple of 8); the batch is padded to the
 * kernel's 4 rows.
 */
export const simdLinearGradInput = (N: number, K: number, M: number, dy: F32, w: F32, dx: F32): void => {
  if (!residentShape(M, K)) return simdGemmNN(N, K, M, dy, 0, w, 0, dx, 0);
  const ow = resident(w);
  const N4 = (N + 3) & ~3;
  reserve(N4 * M + N4 * K);
  const oa = base;
  const oc = oa + N4 * M;
  heap.fill(0, oa, oc + N4 * K);
  heap.set(dy.subarray(0, N * M), oa);
  heap.set(dx.subarray(0, N * K), oc);
  kernel(N4 >> 2, K >> 3, M, oa * 4, ow * 4, oc * 4, K, K);
  dx.set(heap.subarray(oc, oc + N * K));
};
