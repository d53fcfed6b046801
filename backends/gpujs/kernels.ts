/**
 * The gpu.js kernels, as source text specialised to one shape.
 *
 * Each function here returns the JavaScript source of one gpu.js kernel with
 * every size baked in as a literal (loops have constant bounds, so GLSL can
 * unroll and no `loopMaxIterations` guess is involved) and the output grid the
 * kernel runs over. The backend compiles each distinct source once and reuses
 * it for every later call with the same shapes.
 *
 * Conventions, which every kernel follows:
 *
 * - Every tensor is a flat float32 buffer in NCHW order, read with a single
 *   index: `x[i]`. gpu.js turns that into a texel fetch whatever the texture's
 *   own grid is.
 * - The output grid gives the thread its coordinates without division where it
 *   can: an [N, C, H, W] result runs on the grid [W, H, N*C] (x, y, z), so only
 *   z, a small number, is ever split with `Math.floor(z / C)`.
 * - gpu.js declares every kernel-local variable as a GLSL float, while thread
 *   ids, loop counters and integer literals stay GLSL ints. A float index is
 *   exact only below 2^24, and fc6's weights alone have 37.7 million entries, so
 *   every index is built from ints: float locals that hold small whole numbers
 *   are turned back into ints with `(v >> 0)` (see `I`), which gpu.js lowers to
 *   a plain int conversion.
 * - Real-valued parameters (LRN constants, the learning rate, ...) are kernel
 *   arguments, never literals, so a kernel is compiled once per shape and not
 *   once per learning rate.
 */
import type { ConvParams, PoolParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import type { Shape } from '../../core/tensor.ts';

export interface KernelSource {
  /** The kernel family ("conv2d", "relu", ...), for errors and statistics. */
  readonly name: string;
  /** gpu.js kernel source: `function(args) { ... }`. */
  readonly source: string;
  /** The output grid [x, y?, z?]; its size is the size of the result. */
  readonly output: readonly number[];
  /** 'Array(4)': the kernel returns four values per thread (see blocked kernels); default one number. */
  readonly returns?: 'Number' | 'Array(4)';
  /** GLSL functions the source calls (GL only), as gpu.js native functions. */
  readonly native?: readonly { readonly name: string; readonly source: string }[];
  /** GLSL globals the native functions share (declared ahead of them). */
  readonly globals?: string;
  /**
   * gpu.js sub-kernels (GL only): each one the body calls stores what it
   * returns as one more result, a render target of its own (a kernel map);
   * `Device.runMany` returns them after the main result, in this order.
   */
  readonly subKernels?: readonly string[];
}

/** A float local holding a small whole number, as a GLSL int. */
export const I = (v: string): string => `(${v} >> 0)`;

/** The four values of a texel, or the four outputs of a thread. */
export const LANES = [0, 1, 2, 3] as const;

/**
 * How a loop counter is written inside an index. On GL a counter is an int. The
 * webasm backend of gpu.js 2.24 declares it i32 but reads it back as f32 inside
 * expressions, so `w[m * 9216 + k]` rounds once the index passes 2^24 (fc6's
 * weights); `k >> 0` forces it to i32 there, while on GL the same wrapper would
 * cost a function call per iteration.
 */
export interface Dialect {
  readonly at: (loopCounter: string) => string;
}
export const GLSL: Dialect = { at: (v) => v };
export const WASM: Dialect = { at: (v) => `(${v} >> 0)` };

/**
 * The same kernel on a one-dimensional grid: each thread finds its x, y and z
 * from its place in the flat grid. For a device that cannot dispatch as many
 * workgroups along one axis as the grid has (WebGPU allows 65,535; conv4's
 * filter gradient of the grouped network runs 384 x 192 threads along z);
 * gpu.js folds a one-dimensional grid over two axes itself. The indices are
 * whole numbers below 2^24, where float division is exact.
 */
export const flatGrid = (src: KernelSource): KernelSource => {
  const [X, Y = 1, Z = 1] = src.output;
  const size = X * Y * Z;
  if (size > 2 ** 24) throw new Error(`internal: kernel ${src.name}'s grid ${src.output.join('x')} is too large to flatten exactly`);
  const open = src.source.indexOf('{') + 1;
  const body = src.source.slice(open).replace(/this\.thread\.([xyz])/g, (_, a: string) => `thread_${a}`);
  const decode = `
const thread_z = Math.floor(this.thread.x / ${X * Y});
const thread_r = this.thread.x - thread_z * ${X * Y};
const thread_y = Math.floor(thread_r / ${X});
const thread_x = thread_r - thread_y * ${X};`;
  return { ...src, source: `${src.source.slice(0, open)}${decode}${body}`, output: [size] };
};

/** `a + k` for an int expression and an integer literal, without a stray `+ -`. */
const plus = (a: string, k: number): string => (k === 0 ? a : k > 0 ? `${a} + ${k}` : `${a} - ${-k}`);

const kernel = (name: string, args: readonly string[], body: string, output: readonly number[]): KernelSource => ({
  name,
  source: `function(${args.join(', ')}) {\n${body.trim()}\n}`,
  output,
});

/** A kernel whose body returns four values a thread (`return [a, b, c, d];`). */
export const kernel4 = (name: string, args: readonly string[], body: string, output: readonly number[]): KernelSource =>
  ({ ...kernel(name, args, body, output), returns: 'Array(4)' });

const elems = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Sizes after axis 1, multiplied: H*W for a map, 1 for a matrix. */
const innerOf = (shape: Shape): number => elems(shape.slice(2));

// ---- memory and plumbing ----------------------------------------------------

/** Copies a host array (uploaded by gpu.js as an argument texture) into a kernel-made texture. */
export const copy = (size: number): KernelSource =>
  kernel('upload', ['a'], 'return a[this.thread.x];', [size]);

/** Concatenation along axis 1: one argument per input, output grid [inner, C, N]. */
export const concat = (shapes: readonly Shape[]): KernelSource => {
  const N = shapes[0][0];
  const inner = innerOf(shapes[0]);
  const C = shapes.reduce((s, sh) => s + sh[1], 0);
  const args = shapes.map((_, i) => `a${i}`);
  let c0 = 0;
  const lines = shapes.map((sh, i) => {
    const Ci = sh[1];
    const read = `a${i}[(this.thread.z * ${Ci} + ${plus('this.thread.y', -c0)}) * ${inner} + this.thread.x]`;
    const line = i === shapes.length - 1 ? `return ${read};` : `if (this.thread.y < ${c0 + Ci}) { return ${read}; }`;
    c0 += Ci;
    return line;
  });
  return kernel('concat', args, lines.join('\n'), [inner, C, N]);
};

/** Channels [start, start + count) of axis 1; output grid [inner, count, N]. */
export const slice = (shape: Shape, start: number, count: number): KernelSource => {
  const [N, C] = shape;
  const inner = innerOf(shape);
  return kernel('slice', ['x'],
    `return x[(this.thread.z * ${C} + ${plus('this.thread.y', start)}) * ${inner} + this.thread.x];`,
    [inner, count, N]);
};

// ---- elementwise --------------------------------------------------------------

export const add = (size: number): KernelSource =>
  kernel('add', ['a', 'b'], 'return a[this.thread.x] + b[this.thread.x];', [size]);

export const relu = (size: number): KernelSource =>
  kernel('relu', ['x'], `
const v = x[this.thread.x];
if (v > 0) { return v; }
return 0;`, [size]);

/** dy where the ReLU's output was positive (the reference's convention at 0). */
export const reluGrad = (size: number): KernelSource =>
  kernel('reluGrad', ['y', 'dy'], `
if (y[this.thread.x] > 0) { return dy[this.thread.x]; }
return 0;`, [size]);

/** x * mask: dropout forward, and (with dy for x) its gradient. */
export const multiply = (name: string, size: number): KernelSource =>
  kernel(name, ['x', 'mask'], 'return x[this.thread.x] * mask[this.thread.x];', [size]);

/** The velocity half of the paper's update: v' = momentum v - (decay lr) w - lr g. */
export const sgdVelocity = (size: number): KernelSource =>
  kernel('sgdVelocity', ['w', 'v', 'g', 'momentum', 'decayLr', 'lr'],
    'return momentum * v[this.thread.x] - decayLr * w[this.thread.x] - lr * g[this.thread.x];', [size]);

/** The weight half: w' = w + v'. */
export const sgdWeight = (size: number): KernelSource =>
  kernel('sgdWeight', ['w', 'v'], 'return w[this.thread.x] + v[this.thread.x];', [size]);

// ---- convolution --------------------------------------------------------------

interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  F: number; K: number; OH: number; OW: number;
  Cg: number; Fg: number; S: number; P: number;
}

const convGeometry = (xShape: Shape, wShape: Shape, p: ConvParams): ConvGeometry => {
  const [N, C, H, W] = xShape;
  const [F, Cg, K] = wShape;
  return {
    N, C, H, W, F, K, Cg,
    Fg: F / p.groups,
    OH: outSize(H, K, p.stride, p.pad),
    OW: outSize(W, K, p.stride, p.pad),
    S: p.stride,
    P: p.pad,
  };
};

/**
 * y[n, f, oy, ox] = b[f] + sum over c of f's group, ky, kx of
 *   w[f, c, ky, kx] * x[n, c0(f) + c, oy*S - P + ky, ox*S - P + kx]
 * on the grid [OW, OH, N*F]; reads outside the input (the padding) count as 0.
 */
export const conv2d = (dl: Dialect, xShape: Shape, wShape: Shape, p: ConvParams): KernelSource => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg, S, P } = convGeometry(xShape, wShape, p);
  const [c, ky, kx] = ['c', 'ky', 'kx'].map(dl.at);
  const iy = plus(`this.thread.y * ${S} + ${ky}`, -P);
  const ix = plus(`this.thread.x * ${S} + ${kx}`, -P);
  const checkY = P > 0 ? `if (${iy} < 0 || ${iy} >= ${H}) { continue; }` : '';
  const checkX = P > 0 ? `if (${ix} < 0 || ${ix} >= ${W}) { continue; }` : '';
  return kernel('conv2d', ['x', 'w', 'b'], `
const n = Math.floor(this.thread.z / ${F});
const f = this.thread.z - n * ${F};
const c0 = Math.floor(f / ${Fg}) * ${Cg};
let sum = b[${I('f')}];
for (let c = 0; c < ${Cg}; c++) {
  for (let ky = 0; ky < ${K}; ky++) {
    ${checkY}
    for (let kx = 0; kx < ${K}; kx++) {
      ${checkX}
      sum += w[((${I('f')} * ${Cg} + ${c}) * ${K} + ${ky}) * ${K} + ${kx}] * x[((${I('n')} * ${C} + ${I('c0')} + ${c}) * ${H} + ${iy}) * ${W} + ${ix}];
    }
  }
}
return sum;`, [OW, OH, N * F]);
};

/**
 * dx[n, c, iy, ix] = sum over the filters f of c's group and every (ky, kx)
 * with iy = oy*S - P + ky, ix = ox*S - P + kx for a valid output (oy, ox), of
 * dy[n, f, oy, ox] * w[f, c - c0, ky, kx]. Grid [W, H, N*C].
 *
 * For a given iy the valid ky are ky = (iy + P) mod S + r*S, with
 * oy = floor((iy + P) / S) - r, so the loop runs over r < ceil(K / S) and needs
 * no division inside.
 */
export const conv2dGradInput = (dl: Dialect, dyShape: Shape, wShape: Shape, xShape: Shape, p: ConvParams): KernelSource => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg, S, P } = convGeometry(xShape, wShape, p);
  void dyShape;
  const R = Math.ceil(K / S);
  // q = floor((i + P) / S), m = (i + P) mod S; with S = 1 these are i + P and 0.
  const setup = S === 1 ? '' : `
const qy = Math.floor((this.thread.y + ${P}) / ${S});
const my = this.thread.y + ${P} - qy * ${S};
const qx = Math.floor((this.thread.x + ${P}) / ${S});
const mx = this.thread.x + ${P} - qx * ${S};`;
  const qy = S === 1 ? plus('this.thread.y', P) : I('qy');
  const qx = S === 1 ? plus('this.thread.x', P) : I('qx');
  const [fl, ry, rx] = ['fl', 'ry', 'rx'].map(dl.at);
  const ky = S === 1 ? ry : `${I('my')} + ${ry} * ${S}`;
  const kx = S === 1 ? rx : `${I('mx')} + ${rx} * ${S}`;
  const oy = `${qy} - ${ry}`;
  const ox = `${qx} - ${rx}`;
  const kyCheck = S === 1 ? '' : `${ky} >= ${K} || `;
  const kxCheck = S === 1 ? '' : `${kx} >= ${K} || `;
  return kernel('conv2dGradInput', ['dy', 'w'], `
const n = Math.floor(this.thread.z / ${C});
const c = this.thread.z - n * ${C};
const g = Math.floor(c / ${Cg});
const cl = c - g * ${Cg};${setup}
let sum = 0;
for (let fl = 0; fl < ${Fg}; fl++) {
  for (let ry = 0; ry < ${R}; ry++) {
    if (${kyCheck}${oy} < 0 || ${oy} >= ${OH}) { continue; }
    for (let rx = 0; rx < ${R}; rx++) {
      if (${kxCheck}${ox} < 0 || ${ox} >= ${OW}) { continue; }
      sum += dy[((${I('n')} * ${F} + ${I('g')} * ${Fg} + ${fl}) * ${OH} + ${oy}) * ${OW} + ${ox}] * w[(((${I('g')} * ${Fg} + ${fl}) * ${Cg} + ${I('cl')}) * ${K} + ${ky}) * ${K} + ${kx}];
    }
  }
}
return sum;`, [W, H, N * C]);
};

/**
 * dw[f, c, ky, kx] = sum over n, oy, ox of dy[n, f, oy, ox] * x[n, c0(f) + c, oy*S - P + ky, ox*S - P + kx].
 * Grid [K, K, F*Cg].
 */
export const conv2dGradFilter = (dl: Dialect, xShape: Shape, dyShape: Shape, wShape: Shape, p: ConvParams): KernelSource => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg, S, P } = convGeometry(xShape, wShape, p);
  void dyShape;
  const [n, oy, ox] = ['n', 'oy', 'ox'].map(dl.at);
  const iy = plus(`${oy} * ${S} + this.thread.y`, -P);
  const ix = plus(`${ox} * ${S} + this.thread.x`, -P);
  const checkY = P > 0 ? `if (${iy} < 0 || ${iy} >= ${H}) { continue; }` : '';
  const checkX = P > 0 ? `if (${ix} < 0 || ${ix} >= ${W}) { continue; }` : '';
  return kernel('conv2dGradFilter', ['x', 'dy'], `
const f = Math.floor(this.thread.z / ${Cg});
const c = this.thread.z - f * ${Cg};
const cin = Math.floor(f / ${Fg}) * ${Cg} + c;
let sum = 0;
for (let n = 0; n < ${N}; n++) {
  for (let oy = 0; oy < ${OH}; oy++) {
    ${checkY}
    for (let ox = 0; ox < ${OW}; ox++) {
      ${checkX}
      sum += dy[((${n} * ${F} + ${I('f')}) * ${OH} + ${oy}) * ${OW} + ${ox}] * x[((${n} * ${C} + ${I('cin')}) * ${H} + ${iy}) * ${W} + ${ix}];
    }
  }
}
return sum;`, [K, K, F * Cg]);
};

// ---- convolution, four outputs a thread (GL) ----------------------------------------
//
// A one-output thread reads two values (a weight and an input) for every
// multiply-add, and on llvmpipe every read is a texel fetch behind an
// index-to-coordinate computation: the reads, not the arithmetic, set the speed.
// These kernels give each thread four neighbouring outputs along the row and
// slide along the row as a person would by hand: for a 5x5 filter at stride 1,
// one filter row (5 weights) and one input row segment (8 values) feed 4 x 5
// multiply-adds, 13 reads where one output a thread makes 40.
//
// Each returns its four values as one texel (`Array(4)`), on a grid whose x is
// the row length divided by 4, rounded up; `unblock` then copies them into the
// usual flat NCHW layout, one read an output, which is cheap beside the
// convolution. Lanes past the row's end compute throwaway values that `unblock`
// never reads. The webasm and cpu modes keep the one-output kernels above.

/** A four-outputs-a-thread kernel and the copy that lays its result out flat. */
export interface Blocked {
  readonly main: KernelSource;
  readonly unblock: KernelSource;
}

const blocks = (n: number): number => Math.ceil(n / 4);

/**
 * From a grid [ceil(X/4), Y, Z] of texels to the flat [Z, Y, X] layout: output
 * (x, y, z) is lane x mod 4 of texel (floor(x/4), y, z).
 */
export const unblock = (X: number, Y: number, Z: number): KernelSource =>
  kernel('unblock', ['t'], `
const q = Math.floor(this.thread.x / 4);
const v = t[this.thread.z][this.thread.y][${I('q')}];
const lane = this.thread.x - q * 4;
if (lane == 0) { return v[0]; }
if (lane == 1) { return v[1]; }
if (lane == 2) { return v[2]; }
return v[3];`, [X, Y, Z]);

const blocked = (name: string, args: readonly string[], body: string, X: number, Y: number, Z: number): Blocked => ({
  main: kernel4(name, args, body, [blocks(X), Y, Z]),
  unblock: unblock(X, Y, Z),
});

/**
 * `const <v>0 .. <v><count-1>` = `<tex>[<rowBase> + <start> + j]`, each 0 where
 * `<start> + j` falls outside [0, limit): one row segment, read once.
 */
const rowSegment = (v: string, tex: string, rowBase: string, start: string, first: number, count: number, limit: number, check: boolean): string =>
  Array.from({ length: count }, (_, j) => {
    const at = plus(start, first + j);
    const read = `${tex}[${rowBase} + ${at}]`;
    return check ? `const ${v}${j} = (${at} >= 0 && ${at} < ${limit}) ? ${read} : 0;` : `const ${v}${j} = ${read};`;
  }).join('\n');

/** `s<o> += a0 * b<index(o, 0)> + a1 * b<index(o, 1)> + ...` for the four lanes o. */
const fourDots = (a: string, b: string, terms: number, index: (o: number, t: number) => number): string =>
  LANES.map((o) => `s${o} += ${Array.from({ length: terms }, (_, t) => `${a}${t} * ${b}${index(o, t)}`).join(' + ')};`).join('\n');

/**
 * conv2d with outputs ox = 4q .. 4q+3 of row oy in one thread: for each input
 * channel and filter row ky, the K weights w[f, c, ky, 0..K-1] and the input row
 * segment from column 4qS - P (3S + K values) give all four outputs' terms.
 */
export const conv2dBlocked = (xShape: Shape, wShape: Shape, p: ConvParams): Blocked => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg, S, P } = convGeometry(xShape, wShape, p);
  const iy = plus(`this.thread.y * ${S} + ky`, -P);
  return blocked('conv2d', ['x', 'w', 'b'], `
const n = Math.floor(this.thread.z / ${F});
const f = this.thread.z - n * ${F};
const c0 = Math.floor(f / ${Fg}) * ${Cg};
let s0 = b[${I('f')}];
let s1 = s0;
let s2 = s0;
let s3 = s0;
for (let c = 0; c < ${Cg}; c++) {
  for (let ky = 0; ky < ${K}; ky++) {
    ${P > 0 ? `if (${iy} < 0 || ${iy} >= ${H}) { continue; }` : ''}
${rowSegment('x', 'x', `((${I('n')} * ${C} + ${I('c0')} + c) * ${H} + ${iy}) * ${W}`, `this.thread.x * ${4 * S}`, -P, 3 * S + K, W, P > 0)}
${rowSegment('w', 'w', `((${I('f')} * ${Cg} + c) * ${K} + ky) * ${K}`, '0', 0, K, K, false)}
${fourDots('w', 'x', K, (o, kx) => o * S + kx)}
  }
}
return [s0, s1, s2, s3];`, OW, OH, N * F);
};

/**
 * conv2dGradInput at stride 1 with inputs ix = 4q .. 4q+3 of row iy in one
 * thread: ix receives dy[.., iy + P - ky, ix + P - kx] w[.., ky, kx], so for
 * each filter and ky the K weights and the dy row segment from column
 * 4q + P - (K - 1) (K + 3 values) give all four. (Stride > 1 uses the
 * one-output kernel: only conv1 has it, and no layer needs conv1's input gradient.)
 */
export const conv2dGradInputBlocked = (dyShape: Shape, wShape: Shape, xShape: Shape, p: ConvParams): Blocked => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg, S, P } = convGeometry(xShape, wShape, p);
  void dyShape;
  if (S !== 1) throw new Error('internal: conv2dGradInputBlocked is for stride 1');
  const oy = plus('this.thread.y - ky', P);
  return blocked('conv2dGradInput', ['dy', 'w'], `
const n = Math.floor(this.thread.z / ${C});
const c = this.thread.z - n * ${C};
const g = Math.floor(c / ${Cg});
const cl = c - g * ${Cg};
let s0 = 0;
let s1 = 0;
let s2 = 0;
let s3 = 0;
for (let fl = 0; fl < ${Fg}; fl++) {
  for (let ky = 0; ky < ${K}; ky++) {
    if (${oy} < 0 || ${oy} >= ${OH}) { continue; }
${rowSegment('d', 'dy', `((${I('n')} * ${F} + ${I('g')} * ${Fg} + fl) * ${OH} + ${oy}) * ${OW}`, 'this.thread.x * 4', P - (K - 1), K + 3, OW, true)}
${rowSegment('w', 'w', `(((${I('g')} * ${Fg} + fl) * ${Cg} + ${I('cl')}) * ${K} + ky) * ${K}`, '0', 0, K, K, false)}
${fourDots('w', 'd', K, (o, kx) => o - kx + K - 1)}
  }
}
return [s0, s1, s2, s3];`, W, H, N * C);
};

/**
 * conv2dGradFilter with taps kx = 4q .. 4q+3 of filter row ky in one thread,
 * walking each output row four columns at a time: four dy values and the input
 * segment they see through the four taps (3S + 4 values) give 16 terms.
 */
export const conv2dGradFilterBlocked = (xShape: Shape, dyShape: Shape, wShape: Shape, p: ConvParams): Blocked => {
  const { N, C, H, W, F, K, OH, OW, Cg, Fg, S, P } = convGeometry(xShape, wShape, p);
  void dyShape;
  const iy = plus(`oy * ${S} + this.thread.y`, -P);
  const dyRow = `((n * ${F} + ${I('f')}) * ${OH} + oy) * ${OW}`;
  const dys = LANES.map((j) => {
    const ox = plus('ox4 * 4', j);
    return j === 0 || OW % 4 === 0
      ? `const d${j} = dy[${dyRow} + ${ox}];`
      : `const d${j} = ${ox} < ${OW} ? dy[${dyRow} + ${ox}] : 0;`;
  }).join('\n');
  return blocked('conv2dGradFilter', ['x', 'dy'], `
const f = Math.floor(this.thread.z / ${Cg});
const c = this.thread.z - f * ${Cg};
const cin = Math.floor(f / ${Fg}) * ${Cg} + c;
let s0 = 0;
let s1 = 0;
let s2 = 0;
let s3 = 0;
for (let n = 0; n < ${N}; n++) {
  for (let oy = 0; oy < ${OH}; oy++) {
    ${P > 0 ? `if (${iy} < 0 || ${iy} >= ${H}) { continue; }` : ''}
    for (let ox4 = 0; ox4 < ${blocks(OW)}; ox4++) {
${dys}
${rowSegment('x', 'x', `((n * ${C} + ${I('cin')}) * ${H} + ${iy}) * ${W}`, `ox4 * ${4 * S} + this.thread.x * 4`, -P, 3 * S + 4, W, true)}
${LANES.map((t) => `s${t} += ${LANES.map((j) => `d${j} * x${j * S + t}`).join(' + ')};`).join('\n')}
    }
  }
}
return [s0, s1, s2, s3];`, K, K, F * Cg);
};

/** db[f] = sum of dy over every axis but 1. Grid [F]. */
export const biasGrad = (dl: Dialect, dyShape: Shape): KernelSource => {
  const [N, F] = dyShape;
  const inner = innerOf(dyShape);
  const [n, i] = ['n', 'i'].map(dl.at);
  return kernel('biasGrad', ['dy'], `
let sum = 0;
for (let n = 0; n < ${N}; n++) {
  for (let i = 0; i < ${inner}; i++) {
    sum += dy[(${n} * ${F} + this.thread.x) * ${inner} + ${i}];
  }
}
return sum;`, [F]);
};

// ---- fully connected ------------------------------------------------------------

/** y[n, m] = b[m] + sum_k x[n, k] w[m, k]. Grid [M, N]. */
export const linear = (dl: Dialect, xShape: Shape, wShape: Shape): KernelSource => {
  const [N, K] = xShape;
  const M = wShape[0];
  return kernel('linear', ['x', 'w', 'b'], `
let sum = b[this.thread.x];
for (let k = 0; k < ${K}; k++) {
  sum += x[this.thread.y * ${K} + ${dl.at('k')}] * w[this.thread.x * ${K} + ${dl.at('k')}];
}
return sum;`, [M, N]);
};

/** dx[n, k] = sum_m dy[n, m] w[m, k]. Grid [K, N]. */
export const linearGradInput = (dl: Dialect, dyShape: Shape, wShape: Shape): KernelSource => {
  const [N, M] = dyShape;
  const K = wShape[1];
  return kernel('linearGradInput', ['dy', 'w'], `
let sum = 0;
for (let m = 0; m < ${M}; m++) {
  sum += dy[this.thread.y * ${M} + ${dl.at('m')}] * w[${dl.at('m')} * ${K} + this.thread.x];
}
return sum;`, [K, N]);
};

/** dw[m, k] = sum_n dy[n, m] x[n, k]. Grid [K, M]. */
export const linearGradWeight = (dl: Dialect, xShape: Shape, dyShape: Shape): KernelSource => {
  const [N, K] = xShape;
  const M = dyShape[1];
  return kernel('linearGradWeight', ['x', 'dy'], `
let sum = 0;
for (let n = 0; n < ${N}; n++) {
  sum += dy[${dl.at('n')} * ${M} + this.thread.y] * x[${dl.at('n')} * ${K} + this.thread.x];
}
return sum;`, [K, M]);
};

// ---- fully connected and the update, four values a texel (GL) --------------------------
//
// A packed texture already holds four consecutive values in each texel; these
// kernels read whole texels (arguments marked "vec4" are passed as
// `Device.vec4View`s, `t[i]` being values 4i .. 4i+3) and return four
// consecutive outputs a thread on a one-dimensional grid, which is the packed
// layout itself (`Device.packedView`): no index-to-channel arithmetic on either
// side, and a quarter of the fetches. They need the lengths along the rows to
// be multiples of 4 (AlexNet's are); the backend uses the kernels above otherwise.

/**
 * y[n, m] = b[m] + sum_k x[n, k] w[m, k], four m a thread. x, w, b vec4; grid
 * [N M/4], n fastest: the threads of one batch read the same four weight rows
 * one after the other, so fc6's weights stream through the cache once a call
 * and not once an image. Thread (m/4, n) holds y[n, m .. m+3], which is the
 * packed layout of y only for N = 1; `fromColumnBlocks` reorders otherwise.
 */
export const linearVec4 = (xShape: Shape, wShape: Shape): KernelSource => {
  const [N, K] = xShape;
  const M = wShape[0];
  const K4 = K / 4;
  return kernel4('linear', ['x', 'w', 'b'], `
const m4 = Math.floor(this.thread.x / ${N});
const n = this.thread.x - m4 * ${N};
const bias = b[${I('m4')}];
${LANES.map((j) => `let s${j} = bias[${j}];`).join('\n')}
for (let k = 0; k < ${K4}; k++) {
  const xv = x[${I('n')} * ${K4} + k];
${LANES.map((j) => `  const w${j} = w[(${I('m4')} * 4 + ${j}) * ${K4} + k];`).join('\n')}
${LANES.map((j) => `  s${j} += xv[0] * w${j}[0] + xv[1] * w${j}[1] + xv[2] * w${j}[2] + xv[3] * w${j}[3];`).join('\n')}
}
return [s0, s1, s2, s3];`, [N * (M / 4)]);
};

/**
 * dx[n, k] = sum_m dy[n, m] w[m, k], four k a thread, four m a step. dy, w
 * vec4; grid [N K/4], n fastest as in `linearVec4` (reorder with
 * `fromColumnBlocks` when N > 1).
 */
export const linearGradInputVec4 = (dyShape: Shape, wShape: Shape): KernelSource => {
  const [N, M] = dyShape;
  const K = wShape[1];
  const K4 = K / 4;
  const M4 = M / 4;
  return kernel4('linearGradInput', ['dy', 'w'], `
const k4 = Math.floor(this.thread.x / ${N});
const n = this.thread.x - k4 * ${N};
${LANES.map((j) => `let s${j} = 0;`).join('\n')}
for (let m4 = 0; m4 < ${M4}; m4++) {
  const d = dy[${I('n')} * ${M4} + m4];
${LANES.map((r) => `  const w${r} = w[(m4 * 4 + ${r}) * ${K4} + ${I('k4')}];`).join('\n')}
${LANES.map((j) => `  s${j} += d[0] * w0[${j}] + d[1] * w1[${j}] + d[2] * w2[${j}] + d[3] * w3[${j}];`).join('\n')}
}
return [s0, s1, s2, s3];`, [N * K4]);
};

/** [N, M] from the result of `linearVec4` or `linearGradInputVec4` (thread (m/4, n) holding m .. m+3). Grid [M, N]. */
export const fromColumnBlocks = (N: number, M: number): KernelSource =>
  kernel('fromColumnBlocks', ['y'], `
const q = Math.floor(this.thread.x / 4);
return y[(${I('q')} * ${N} + this.thread.y) * 4 + this.thread.x - ${I('q')} * 4];`, [M, N]);

/** dw[m, k] = sum_n dy[n, m] x[n, k], four k a thread. x vec4, dy packed; grid [M K/4]. */
export const linearGradWeightVec4 = (xShape: Shape, dyShape: Shape): KernelSource => {
  const [N, K] = xShape;
  const M = dyShape[1];
  const K4 = K / 4;
  return kernel4('linearGradWeight', ['x', 'dy'], `
const m = Math.floor(this.thread.x / ${K4});
const k4 = this.thread.x - m * ${K4};
${LANES.map((j) => `let s${j} = 0;`).join('\n')}
for (let n = 0; n < ${N}; n++) {
  const d = dy[n * ${M} + ${I('m')}];
  const xv = x[n * ${K4} + ${I('k4')}];
${LANES.map((j) => `  s${j} += d * xv[${j}];`).join('\n')}
}
return [s0, s1, s2, s3];`, [M * K4]);
};

/** sgdVelocity on whole texels: w, v, g vec4; grid [ceil(size/4)]. */
export const sgdVelocityVec4 = (size: number): KernelSource =>
  kernel4('sgdVelocity', ['w', 'v', 'g', 'momentum', 'decayLr', 'lr'], `
const wv = w[this.thread.x];
const vv = v[this.thread.x];
const gv = g[this.thread.x];
return [${LANES.map((j) => `momentum * vv[${j}] - decayLr * wv[${j}] - lr * gv[${j}]`).join(', ')}];`, [blocks(size)]);

/** sgdWeight on whole texels: w, v vec4; grid [ceil(size/4)]. */
export const sgdWeightVec4 = (size: number): KernelSource =>
  kernel4('sgdWeight', ['w', 'v'], `
const wv = w[this.thread.x];
const vv = v[this.thread.x];
return [wv[0] + vv[0], wv[1] + vv[1], wv[2] + vv[2], wv[3] + vv[3]];`, [blocks(size)]);

// ---- local response normalisation ---------------------------------------------------

/**
 * b[i] = a[i] * s[i]^-beta, s[i] = k + alpha * sum_{j = i - n/2 .. i + n/2, 0 <= j < C} a[j]^2
 * (n/2 rounded down; alpha times the plain sum, the paper's form). Grid [inner, C, N].
 */
/**
 * The LRN window of the thread's channel m = this.thread.y: `add(at)` (which
 * adds to the local `sum`) for each i = m - n/2 .. m + n/2 inside [0, C), `at`
 * being the flat index of channel i at the thread's position. Returns the loop and the flat
 * index of m itself. Grid [inner, C, N].
 */
const lrnWindow = (dl: Dialect, shape: Shape, n: number, add: (at: string) => string) => {
  const [, C] = shape;
  const inner = innerOf(shape);
  const half = Math.floor(n / 2);
  const i = plus(`this.thread.y + ${dl.at('d')}`, -half);
  const base = `this.thread.z * ${C * inner} + this.thread.x`;
  return {
    loop: `let sum = 0;
for (let d = 0; d < ${2 * half + 1}; d++) {
  if (${i} >= 0 && ${i} < ${C}) {
    ${add(`${base} + (${i}) * ${inner}`)}
  }
}`,
    m: `${base} + this.thread.y * ${inner}`,
  };
};

/** The grid of the LRN kernels: [inner, C, N]. */
const lrnGrid = (shape: Shape): number[] => [innerOf(shape), shape[1], shape[0]];

/** The window's sum of squares of x. */
const squares = (dl: Dialect, shape: Shape, n: number) => lrnWindow(dl, shape, n, (at) => `const a = x[${at}];\n    sum += a * a;`);

export const lrn = (dl: Dialect, shape: Shape, n: number): KernelSource => {
  const { loop, m } = squares(dl, shape, n);
  return kernel('lrn', ['x', 'k', 'alpha', 'beta'], `
${loop}
return x[${m}] * Math.pow(k + alpha * sum, -beta);`, lrnGrid(shape));
};

/**
 * The LRN gradient, in three passes, each reading a handful of values:
 *
 *   dL/da[m] = dL/db[m] s[m]^-beta - 2 alpha beta a[m] sum_{i in W(m)} t[i],
 *   t[i] = dL/db[i] a[i] s[i]^(-beta - 1).
 *
 * `lrnBase` computes s, `lrnCross` t, and `lrnGrad` the sum. Computed in one
 * thread, each of the n + 1 windows would be summed again: about 40 reads and
 * 6 powers an output, against 16 and 2.
 */
export const lrnBase = (dl: Dialect, shape: Shape, n: number): KernelSource => {
  const { loop } = squares(dl, shape, n);
  return kernel('lrnBase', ['x', 'k', 'alpha'], `
${loop}
return k + alpha * sum;`, lrnGrid(shape));
};

/** t[i] = dy[i] a[i] s[i]^(-beta - 1), from s of `lrnBase`. Elementwise. */
export const lrnCross = (size: number): KernelSource =>
  kernel('lrnCross', ['x', 'dy', 's', 'beta'],
    'return dy[this.thread.x] * x[this.thread.x] * Math.pow(s[this.thread.x], -beta - 1);', [size]);

/** dL/da from s (`lrnBase`) and t (`lrnCross`). Grid [inner, C, N]. */
export const lrnGrad = (dl: Dialect, shape: Shape, n: number): KernelSource => {
  const { loop, m } = lrnWindow(dl, shape, n, (at) => `sum += t[${at}];`);
  return kernel('lrnGrad', ['x', 'dy', 's', 't', 'alpha', 'beta'], `
${loop}
return dy[${m}] * Math.pow(s[${m}], -beta) - 2 * alpha * beta * x[${m}] * sum;`, lrnGrid(shape));
};

// ---- max-pooling --------------------------------------------------------------------

/**
 * A walk over each z x z window placed every s pixels, keeping its first
 * largest value (row-major order, as the reference) and where it lies, as
 * ky * z + kx; returns one of the two. Grid [OW, OH, N*C].
 */
const poolWindows = (name: string, result: 'best' | 'arg', dl: Dialect, shape: Shape, p: PoolParams): KernelSource => {
  const [N, C, H, W] = shape;
  const OH = outSize(H, p.size, p.stride, 0);
  const OW = outSize(W, p.size, p.stride, 0);
  const at = (ky: string, kx: string) =>
    `x[(this.thread.z * ${H} + this.thread.y * ${p.stride} + ${ky}) * ${W} + this.thread.x * ${p.stride} + ${kx}]`;
  return kernel(name, ['x'], `
let best = ${at('0', '0')};
let arg = 0;
for (let ky = 0; ky < ${p.size}; ky++) {
  for (let kx = 0; kx < ${p.size}; kx++) {
    const v = ${at(dl.at('ky'), dl.at('kx'))};
    if (v > best) { best = v; arg = ky * ${p.size} + kx; }
  }
}
return ${result};`, [OW, OH, N * C]);
};

/** The largest value of each window. */
export const maxPool = (dl: Dialect, shape: Shape, p: PoolParams): KernelSource => poolWindows('maxPool', 'best', dl, shape, p);

/** Where each window's first maximum lies: the first pass of the pooling gradient. */
export const maxPoolArgmax = (dl: Dialect, shape: Shape, p: PoolParams): KernelSource => poolWindows('maxPoolArgmax', 'arg', dl, shape, p);

/**
 * Each window's gradient goes to its first maximum; an input in several
 * overlapping windows sums what it gets. Grid [W, H, N*C]: each input finds
 * the windows that contain it (oy from floor(iy / s) down, ceil(z / s) of
 * them) and adds dy where the window's argmax (from `maxPoolArgmax`) is itself.
 */
export const maxPoolGrad = (dl: Dialect, shape: Shape, p: PoolParams): KernelSource => {
  const [N, C, H, W] = shape;
  const Z = p.size;
  const S = p.stride;
  const OH = outSize(H, Z, S, 0);
  const OW = outSize(W, Z, S, 0);
  const R = Math.ceil(Z / S);
  const oy = `${I('qy')} - ${dl.at('ry')}`;
  const ox = `${I('qx')} - ${dl.at('rx')}`;
  const win = `(this.thread.z * ${OH} + ${oy}) * ${OW} + ${ox}`;
  return kernel('maxPoolGrad', ['arg', 'dy'], `
const qy = Math.floor(this.thread.y / ${S});
const qx = Math.floor(this.thread.x / ${S});
let sum = 0;
for (let ry = 0; ry < ${R}; ry++) {
  if (${oy} < 0 || ${oy} >= ${OH} || this.thread.y >= (${oy}) * ${S} + ${Z}) { continue; }
  for (let rx = 0; rx < ${R}; rx++) {
    if (${ox} < 0 || ${ox} >= ${OW} || this.thread.x >= (${ox}) * ${S} + ${Z}) { continue; }
    if (arg[${win}] == (this.thread.y - (${oy}) * ${S}) * ${Z} + this.thread.x - (${ox}) * ${S}) {
      sum += dy[${win}];
    }
  }
}
return sum;`, [W, H, N * C]);
};

// ---- softmax cross-entropy ---------------------------------------------------------------

// Each row's largest logit and its sum of exponentials are computed once, by
// one thread a row; the probabilities and the loss then read them.

/** top[n] = max_k z[n, k]. Grid [N]. */
export const logitMax = (dl: Dialect, shape: Shape): KernelSource => {
  const [N, K] = shape;
  return kernel('logitMax', ['z'], `
let top = z[this.thread.x * ${K}];
for (let k = 0; k < ${K}; k++) {
  top = Math.max(top, z[this.thread.x * ${K} + ${dl.at('k')}]);
}
return top;`, [N]);
};

/** sum[n] = sum_k exp(z[n, k] - top[n]). Grid [N]. */
export const logitSumExp = (dl: Dialect, shape: Shape): KernelSource => {
  const [N, K] = shape;
  return kernel('logitSumExp', ['z', 'top'], `
const t = top[this.thread.x];
let sum = 0;
for (let k = 0; k < ${K}; k++) {
  sum += Math.exp(z[this.thread.x * ${K} + ${dl.at('k')}] - t);
}
return sum;`, [N]);
};

/** p[n, k] = exp(z[n, k] - top[n]) / sum[n]. Grid [K, N]. */
export const softmax = (shape: Shape): KernelSource => {
  const [N, K] = shape;
  return kernel('softmax', ['z', 'top', 'sum'],
    `return Math.exp(z[this.thread.y * ${K} + this.thread.x] - top[this.thread.y]) / sum[this.thread.y];`, [K, N]);
};

/** dL/dz[n, k] = (p[n, k] - [k = label[n]]) / N. Grid [K, N]. */
export const softmaxGrad = (shape: Shape): KernelSource => {
  const [N, K] = shape;
  return kernel('softmaxGrad', ['p', 'labels', 'invN'], `
const q = p[this.thread.y * ${K} + this.thread.x];
if (this.thread.x == ${I('labels[this.thread.y]')}) { return (q - 1) * invN; }
return q * invN;`, [K, N]);
};

/**
 * -log p[n, label[n]] = top[n] + log sum[n] - z[n, label[n]], from the logits
 * (not from the rounded p). Grid [N].
 * (The label is read into a local first: gpu.js hoists a texture read nested in
 * an index into a float temporary, which GLSL then refuses to use as an index.)
 */
export const crossEntropy = (shape: Shape): KernelSource => {
  const [N, K] = shape;
  return kernel('crossEntropy', ['z', 'labels', 'top', 'sum'], `
const label = labels[this.thread.x];
return top[this.thread.x] + Math.log(sum[this.thread.x]) - z[this.thread.x * ${K} + ${I('label')}];`, [N]);
};
