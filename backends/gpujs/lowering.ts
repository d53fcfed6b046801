/**
 * Convolution as matrix products, for the GL mode.
 *
 * A convolution is a matrix product once its input is unrolled (Chellapilla,
 * Puri and Simard 2006; the paper's cuda-convnet did the same on the GPU): with
 * P = OH*OW output positions per image and Kd = Cg*K*K taps per filter,
 *
 *   forward          y[f, (n,p)]   = b[f] + sum_k  w[f, k]      col[(n,p), k]
 *   filter gradient  dw[f, k]      =        sum_np dy[f, (n,p)]  col[(n,p), k]
 *   input gradient   dcol[(n,p), k] =       sum_f  dy[f, (n,p)]  w[f, k]
 *
 * where col[(n,p), (c,ky,kx)] = x[n, c0 + c, oy*S - P + ky, ox*S - P + kx] (0 in
 * the padding) and dx gathers dcol back (col2im), per group. On llvmpipe the
 * price of a GL kernel is its texel fetches, and a product whose rows lie
 * along the summed axis reads four values a fetch: `matmulABt` computes
 * C[g, i, j] = sum_k A[g, i, k] B[g, j, k] with both operands read as whole
 * texels and four j a thread, five fetches for sixteen multiply-adds (a direct
 * convolution thread needs two fetches for each one).
 *
 * So every operand is first laid out with its summed axis last and padded with
 * zeros to a multiple of 4 (the layout kernels below, one gather a value), and
 * every output axis j to a multiple of 4 as well: P4 = P rounded up per image,
 * Kd4 = Kd rounded up, Fg4 = Fg rounded up. A product's result on the grid
 * is a packed texture (see `Device.packedView`) in the tile order of
 * `matmulABt`; the copies at the end and col2im turn it back into NCHW.
 *
 * The unrolled input holds K*K/S^2 copies of the input: at batch 1 a few MB,
 * at batch 128 of the 227x227 network about half a gigabyte for conv1 alone.
 * The backend therefore lowers a convolution only while its largest operand
 * stays under a bound (see `loweredTexels`) and otherwise runs the direct
 * kernels of kernels.ts.
 */
import type { ConvParams } from '../../core/backend.ts';
import { outSize } from '../../core/backend.ts';
import type { Shape } from '../../core/tensor.ts';
import { I, type KernelSource, kernel4, LANES } from './kernels.ts';

const up4 = (n: number): number => Math.ceil(n / 4) * 4;

/** The sizes of one lowered convolution. */
export interface Lowering {
  readonly N: number; readonly C: number; readonly H: number; readonly W: number;
  readonly F: number; readonly K: number; readonly S: number; readonly P: number;
  readonly G: number; readonly Cg: number; readonly Fg: number;
  readonly OH: number; readonly OW: number;
  /** Output positions per image, and rounded up to a multiple of 4. */
  readonly Pn: number; readonly P4: number;
  /** Taps per filter (Cg K K), and rounded up. */
  readonly Kd: number; readonly Kd4: number;
  /** Filters per group, rounded up. */
  readonly Fg4: number;
}

export const lowering = (xShape: Shape, wShape: Shape, p: ConvParams): Lowering => {
  const [N, C, H, W] = xShape;
  const [F, Cg, K] = wShape;
  const OH = outSize(H, K, p.stride, p.pad);
  const OW = outSize(W, K, p.stride, p.pad);
  const Fg = F / p.groups;
  return {
    N, C, H, W, F, K, S: p.stride, P: p.pad, G: p.groups, Cg, Fg, OH, OW,
    Pn: OH * OW, P4: up4(OH * OW), Kd: Cg * K * K, Kd4: up4(Cg * K * K), Fg4: up4(Fg),
  };
};

/** Texels of the largest matrix a lowered convolution makes (unrolled input or its gradient). */
export const loweredTexels = (l: Lowering): number => (l.G * l.N * l.P4 * l.Kd4) / 4;

/**
 * A layout kernel: rows `R` of `L` values each, padded to L4 = up4(L), four
 * consecutive values a thread on the grid [R L4/4] (so its result is the
 * packed layout of [R, L4]). `rowSetup` derives locals from `row`; for the
 * column held in local `l`, the lane's `setup` sets `laneLocals`, and `ok` is the
 * condition under which `read` is the value (it is 0 otherwise, padding included).
 */
const rows4 = (
  name: string, args: readonly string[], R: number, L: number, rowSetup: string, laneLocals: readonly string[],
  { setup, ok, read }: { setup: string; ok: string; read: string },
): KernelSource => {
  const LQ = up4(L) / 4;
  const lanes = LANES.map((j) => `
l = lq * 4 + ${j};
${setup}
if (l < ${L} && ${ok}) { v${j} = ${read}; }`).join('');
  return kernel4(name, args, `
const row = Math.floor(this.thread.x / ${LQ});
const lq = this.thread.x - row * ${LQ};
${rowSetup}
let l = 0;
${laneLocals.map((v) => `let ${v} = 0;`).join('\n')}
let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;${lanes}
return [v0, v1, v2, v3];`, [R * LQ]);
};

/** Splits a tap index held in local `k` into c, ky, kx: new constants with `declare` 'const ', else existing locals. */
const tap = (l: Lowering, k: string, declare = ''): string => `${declare}c = Math.floor(${k} / ${l.K * l.K});
${declare}ky = Math.floor((${k} - c * ${l.K * l.K}) / ${l.K});
${declare}kx = ${k} - c * ${l.K * l.K} - ky * ${l.K};`;

/** The input value under tap (c, ky, kx) of output position (oy, ox), image n, group g; `inside` guards the padding. */
const xAt = (l: Lowering) => ({
  inside: `oy * ${l.S} + ky >= ${l.P} && oy * ${l.S} + ky < ${l.H + l.P} && ox * ${l.S} + kx >= ${l.P} && ox * ${l.S} + kx < ${l.W + l.P}`,
  read: `x[((${I('n')} * ${l.C} + ${I('g')} * ${l.Cg} + ${I('c')}) * ${l.H} + ${I('oy')} * ${l.S} + ${I('ky')} - ${l.P}) * ${l.W} + ${I('ox')} * ${l.S} + ${I('kx')} - ${l.P}]`,
});

/** col[g, n P4 + p, k]: rows (g, n, p), taps along the row. [G N P4, Kd4]. */
export const im2col = (l: Lowering): KernelSource => {
  const { inside, read } = xAt(l);
  return rows4('im2col', ['x'], l.G * l.N * l.P4, l.Kd, `
const g = Math.floor(row / ${l.N * l.P4});
const n = Math.floor((row - g * ${l.N * l.P4}) / ${l.P4});
const p = row - g * ${l.N * l.P4} - n * ${l.P4};
const oy = Math.floor(p / ${l.OW});
const ox = p - oy * ${l.OW};`, ['c', 'ky', 'kx'], { setup: tap(l, 'l'), ok: `p < ${l.Pn} && ${inside}`, read });
};

/** colT[g, k, n P4 + p]: the same values with rows (g, k) and positions along the row. [G Kd4, N P4]. */
export const im2colT = (l: Lowering): KernelSource => {
  const { inside, read } = xAt(l);
  return rows4('im2colT', ['x'], l.G * l.Kd4, l.N * l.P4, `
const g = Math.floor(row / ${l.Kd4});
const k = row - g * ${l.Kd4};
${tap(l, 'k', 'const ')}`, ['n', 'p', 'oy', 'ox'], {
    setup: `n = Math.floor(l / ${l.P4});
p = l - n * ${l.P4};
oy = Math.floor(p / ${l.OW});
ox = p - oy * ${l.OW};`,
    ok: `k < ${l.Kd} && p < ${l.Pn} && ${inside}`,
    read,
  });
};

/** w as [F, Kd4] (the filters with their taps padded). */
export const filtersPadded = (l: Lowering): KernelSource =>
  rows4('filtersPadded', ['w'], l.F, l.Kd, '', [], { setup: '', ok: 'true', read: `w[${I('row')} * ${l.Kd} + ${I('l')}]` });

/** wT[g, k, f]: each group's filters transposed, [G Kd4, Fg4]. */
export const filtersT = (l: Lowering): KernelSource =>
  rows4('filtersT', ['w'], l.G * l.Kd4, l.Fg, `
const g = Math.floor(row / ${l.Kd4});
const k = row - g * ${l.Kd4};`, [], { setup: '', ok: `k < ${l.Kd}`, read: `w[(${I('g')} * ${l.Fg} + ${I('l')}) * ${l.Kd} + ${I('k')}]` });

/** dy as [F, N P4]: each filter's gradients over the images' positions. */
export const gradRows = (l: Lowering): KernelSource =>
  rows4('gradRows', ['dy'], l.F, l.N * l.P4, '', ['n', 'p'], {
    setup: `n = Math.floor(l / ${l.P4});
p = l - n * ${l.P4};`,
    ok: `p < ${l.Pn}`,
    read: `dy[(${I('n')} * ${l.F} + ${I('row')}) * ${l.Pn} + ${I('p')}]`,
  });

/** dyT[g, n P4 + p, f]: per group, each position's gradients over the filters. [G N P4, Fg4]. */
export const gradColumns = (l: Lowering): KernelSource =>
  rows4('gradColumns', ['dy'], l.G * l.N * l.P4, l.Fg, `
const g = Math.floor(row / ${l.N * l.P4});
const n = Math.floor((row - g * ${l.N * l.P4}) / ${l.P4});
const p = row - g * ${l.N * l.P4} - n * ${l.P4};`, [], {
    setup: '',
    ok: `p < ${l.Pn}`,
    read: `dy[(${I('n')} * ${l.F} + ${I('g')} * ${l.Fg} + ${I('l')}) * ${l.Pn} + ${I('p')}]`,
  });

/**
 * C[g, i, j] = sum_k A[g, i, k] B[g, j, k]. A and B are read as texels (A
 * [G I, KQ], B [G J, KQ], KQ texels a row). Each thread makes a 4x4 tile of C:
 * four texels of each operand give 64 multiply-adds, half a fetch per 16 (a
 * 2x2 tile needs one, a row of four 1.25; on conv2's product at batch 16 the
 * 4x4 tile ran 1.95x as fast as the 2x2). A gpu.js kernel returns four values
 * a thread, so the tile leaves through four render targets: the kernel's own
 * result holds the tile's first row and three sub-kernels the others (a gpu.js
 * kernel map over WEBGL_draw_buffers); the GLSL loop hands rows 1-3 to them
 * through globals.
 *
 * Threads run i fastest: thread (g, j/4, i/4). Neighbouring threads then share
 * their four rows of B and differ in the rows of A, which is the small operand
 * (filters or gradients per filter) and stays in cache while B streams past
 * once. With j fastest instead, every row of A sweeps all of B: at batch 16
 * conv1's product ran at 3.4 GFLOP/s that way and at 11.2 this way.
 *
 * The loop is GLSL (a gpu.js native function): gpu.js would turn every texel
 * read into a flat index and back into texture coordinates, a division and a
 * modulo per fetch. Here each row's coordinates are found once and stepped
 * along, wrapping at the texture's edge. user_a and user_bm and their sizes are
 * the uniforms and constants gpu.js declares for the kernel's arguments a and
 * bm (texture sizes are constants with dynamicArguments off, see device.ts).
 *
 * Result r (0-3) is the packed layout of [G, J/4, ceil(I/4), 4]: C[g, i, j]
 * lies in result i mod 4, see `productRead`. Past the last row of A (I not a
 * multiple of 4) a tile repeats that row, and nothing reads it. J must be a
 * multiple of 4.
 */
export const matmulABt = (G: number, Ir: number, J: number, KQ: number): KernelSource => {
  if (J % 4 !== 0) throw new Error(`internal: matmulABt needs J a multiple of 4, got ${J}`);
  const I4 = Math.ceil(Ir / 4);
  const J4 = J / 4;
  const rowStart = (v: string, row: string, tex: string) =>
    `int ${v}i = (${row}) * ${KQ}; int ${v}y = ${v}i / ${tex}Size.x; int ${v}x = ${v}i - ${v}y * ${tex}Size.x;`;
  const at = (v: string, tex: string) => `texture2D(${tex}, (vec2(float(${v}x), float(${v}y)) + 0.5) / vec2(${tex}Size))`;
  const step = (v: string, tex: string) => `${v}x++; if (${v}x == ${tex}Size.x) { ${v}x = 0; ${v}y++; }`;
  const tile = `vec4 matmulTile(int t) {
  int g = t / ${I4 * J4};
  int j4 = (t - g * ${I4 * J4}) / ${I4};
  int i4 = t - g * ${I4 * J4} - j4 * ${I4};
${LANES.map((r) => `  int i${r} = i4 * 4 + ${r};
  if (i${r} >= ${Ir}) { i${r} = ${Ir - 1}; }
  ${rowStart(`a${r}`, `g * ${Ir} + i${r}`, 'user_a')}
  ${rowStart(`b${r}`, `g * ${J} + j4 * 4 + ${r}`, 'user_bm')}`).join('\n')}
${LANES.map((r) => `  vec4 s${r} = vec4(0.0);`).join('\n')}
  for (int k = 0; k < ${KQ}; k++) {
${LANES.map((r) => `    vec4 x${r} = ${at(`a${r}`, 'user_a')};`).join('\n')}
${LANES.map((r) => `    vec4 y${r} = ${at(`b${r}`, 'user_bm')};`).join('\n')}
${LANES.map((r) => `    s${r} += vec4(dot(x${r}, y0), dot(x${r}, y1), dot(x${r}, y2), dot(x${r}, y3));`).join('\n')}
${LANES.map((r) => `    ${step(`a${r}`, 'user_a')}\n    ${step(`b${r}`, 'user_bm')}`).join('\n')}
  }
  tileRow1 = s1;
  tileRow2 = s2;
  tileRow3 = s3;
  return s0;
}`;
  return {
    ...kernel4('matmulABt', ['a', 'bm'], `
const s = matmulTile(this.thread.x);
tileOut1(tileGet1());
tileOut2(tileGet2());
tileOut3(tileGet3());
return s;`, [G * I4 * J4]),
    native: [{ name: 'matmulTile', source: tile }, ...[1, 2, 3].map((r) => ({ name: `tileGet${r}`, source: `vec4 tileGet${r}() { return tileRow${r}; }` }))],
    globals: 'vec4 tileRow1; vec4 tileRow2; vec4 tileRow3;',
    subKernels: [1, 2, 3].map((r) => `function tileOut${r}(v) { return v; }`),
  };
};

/** Values in each of the four results of a `matmulABt` product with G groups, I rows and J columns. */
export const productSize = (G: number, Ir: number, J: number): number => G * Math.ceil(Ir / 4) * J;

/** The four results of a product, as kernel arguments. */
const PRODUCT = ['c0', 'c1', 'c2', 'c3'];

/**
 * Kernel lines that set the local `v` to C[g, i, j] of a `matmulABt` product
 * with I rows and J columns (the kernel's arguments c0-c3), for int
 * expressions g, i, j and locals named by `tag` (declared here).
 */
const productRead = (Ir: number, J: number, g: string, i: string, j: string, tag: string): string => `
const i4${tag} = Math.floor((${i}) / 4);
const j4${tag} = Math.floor((${j}) / 4);
const r${tag} = ${i} - ${I(`i4${tag}`)} * 4;
const at${tag} = ((${g} * ${J / 4} + ${I(`j4${tag}`)}) * ${Math.ceil(Ir / 4)} + ${I(`i4${tag}`)}) * 4 + ${j} - ${I(`j4${tag}`)} * 4;
let v${tag} = c3[${I(`at${tag}`)}];
if (r${tag} == 0) { v${tag} = c0[${I(`at${tag}`)}]; }
if (r${tag} == 1) { v${tag} = c1[${I(`at${tag}`)}]; }
if (r${tag} == 2) { v${tag} = c2[${I(`at${tag}`)}]; }`;

/** y[n, f, oy, ox] = b[f] + the forward product (i = filter in group, j = n P4 + p). Grid [OW, OH, N F]. */
export const outputFromProduct = (l: Lowering): KernelSource => ({
  name: 'outputFromProduct',
  source: `function(${PRODUCT.join(', ')}, b) {
const n = Math.floor(this.thread.z / ${l.F});
const f = this.thread.z - n * ${l.F};
const g = Math.floor(f / ${l.Fg});
${productRead(l.Fg, l.N * l.P4, I('g'), `${I('f')} - ${I('g')} * ${l.Fg}`, `${I('n')} * ${l.P4} + this.thread.y * ${l.OW} + this.thread.x`, 'Y')}
return vY + b[${I('f')}];
}`,
  output: [l.OW, l.OH, l.N * l.F],
});

/** [I, J] (+ b[j] with `bias`) from a one-group product. Grid [J, I]. */
export const matrixFromProduct = (Ir: number, J: number, bias: boolean): KernelSource => ({
  name: 'matrixFromProduct',
  source: `function(${PRODUCT.join(', ')}${bias ? ', b' : ''}) {
${productRead(Ir, J, '0', 'this.thread.y', 'this.thread.x', 'M')}
return vM${bias ? ' + b[this.thread.x]' : ''};
}`,
  output: [J, Ir],
});

/** dw [F, Kd] from the filter-gradient product (i = filter in group, j = tap). Grid [Kd, F]. */
export const filterGradFromProduct = (l: Lowering): KernelSource => ({
  name: 'filterGradFromProduct',
  source: `function(${PRODUCT.join(', ')}) {
const g = Math.floor(this.thread.y / ${l.Fg});
${productRead(l.Fg, l.Kd4, I('g'), `this.thread.y - ${I('g')} * ${l.Fg}`, 'this.thread.x', 'W')}
return vW;
}`,
  output: [l.Kd, l.F],
});

/**
 * dx[n, c, iy, ix] = sum over the taps (ky, kx) that see (iy, ix) from a valid
 * output (oy, ox) of dcol[g, n P4 + oy OW + ox, (c - c0) K K + ky K + kx],
 * dcol being the input-gradient product (i = n P4 + p, j = tap; see `productRead`). As in the direct kernel, ky = (iy + P) mod S + r S
 * and oy = floor((iy + P) / S) - r, so no division sits in the loop. Grid [W, H, N C].
 */
export const col2im = (l: Lowering): KernelSource => {
  const R = Math.ceil(l.K / l.S);
  return {
    name: 'col2im',
    source: `function(${PRODUCT.join(', ')}) {
const n = Math.floor(this.thread.z / ${l.C});
const c = this.thread.z - n * ${l.C};
const g = Math.floor(c / ${l.Cg});
const cl = c - g * ${l.Cg};
const qy = Math.floor((this.thread.y + ${l.P}) / ${l.S});
const my = this.thread.y + ${l.P} - qy * ${l.S};
const qx = Math.floor((this.thread.x + ${l.P}) / ${l.S});
const mx = this.thread.x + ${l.P} - qx * ${l.S};
let sum = 0;
for (let ry = 0; ry < ${R}; ry++) {
  if (${I('my')} + ry * ${l.S} >= ${l.K} || ${I('qy')} - ry < 0 || ${I('qy')} - ry >= ${l.OH}) { continue; }
  for (let rx = 0; rx < ${R}; rx++) {
    if (${I('mx')} + rx * ${l.S} >= ${l.K} || ${I('qx')} - rx < 0 || ${I('qx')} - rx >= ${l.OW}) { continue; }
    const k = ${I('cl')} * ${l.K * l.K} + (${I('my')} + ry * ${l.S}) * ${l.K} + ${I('mx')} + rx * ${l.S};
    const p = (${I('qy')} - ry) * ${l.OW} + ${I('qx')} - rx;
${productRead(l.N * l.P4, l.Kd4, I('g'), `${I('n')} * ${l.P4} + ${I('p')}`, I('k'), 'D')}
    sum += vD;
  }
}
return sum;
}`,
    output: [l.W, l.H, l.N * l.C],
  };
};
