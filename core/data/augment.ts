/**
 * The paper's preprocessing and augmentation (section 2 and 4.1):
 *
 * - mean image subtraction: the mean over the training set of every pixel of
 *   every channel is subtracted from each image (centred raw values, 0..255);
 * - random crops of the network's input size out of the stored images, each
 *   horizontally reflected with probability 1/2;
 * - PCA colour augmentation: to every pixel of an image add
 *   [p1 p2 p3] [a1 s1, a2 s2, a3 s3]^T, where p_i are the eigenvectors of the
 *   3 x 3 covariance of the training set's RGB values, a_i ~ N(0, 0.1^2) is drawn
 *   once per image each time it is used, and s_i = sqrt(lambda_i). The paper
 *   prints lambda_i; with pixel values on 0..255 the eigenvalue is in squared
 *   pixel units (thousands), so we read it as the standard deviation along p_i,
 *   which makes the shift 10% of the colour spread, whatever the pixel scale.
 *   Grey (one-channel) data has no colour to shift: the augmentation is skipped
 *   and the caller says so;
 * - test time: ten crops (four corners, the centre, and their reflections) or
 *   the centre crop alone.
 *
 * Crops and reflections are ndarray views of the stored image; only the batch
 * that goes to the network is written.
 */
import ndarray from 'ndarray';
import type { Rng } from '../rng.ts';
import { Tensor } from '../tensor.ts';
import { type Dataset, imageBytes, imageOf } from './dataset.ts';

/** Everything needed to turn a stored image into network input. */
export interface Preprocessing {
  readonly channels: number;
  /** Side of the stored images. */
  readonly size: number;
  /** Side of the crops the network sees. */
  readonly crop: number;
  /** The training set's mean image, [channels, size, size]. */
  readonly mean: Float32Array;
  /** Principal components of the training RGB values; null for grey data. */
  readonly pca: Pca | null;
}

export interface Pca {
  /** Eigenvectors p_i as rows, largest eigenvalue first. */
  readonly vectors: readonly (readonly [number, number, number])[];
  /** Eigenvalues lambda_i of the covariance, descending. */
  readonly values: readonly [number, number, number];
}

/** Where a crop sits in the stored image, and whether it is mirrored. */
export interface View {
  readonly oy: number;
  readonly ox: number;
  readonly flip: boolean;
}

/** The mean of every pixel of every channel over the set, [channels, size, size]. */
export const meanImage = (d: Dataset): Float32Array => {
  const n = imageBytes(d);
  const sum = new Float64Array(n);
  for (let i = 0; i < d.count; i++) {
    const img = imageOf(d, i);
    for (let j = 0; j < n; j++) sum[j] += img[j];
  }
  return Float32Array.from(sum, (s) => s / d.count);
};

/** The 3 x 3 covariance of the RGB values of every pixel of every image. */
export const rgbCovariance = (d: Dataset): number[][] => {
  const plane = d.size * d.size;
  const s = [0, 0, 0];
  const ss = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < d.count; i++) {
    const img = imageOf(d, i);
    for (let q = 0; q < plane; q++) {
      const v = [img[q], img[plane + q], img[2 * plane + q]];
      for (let a = 0; a < 3; a++) {
        s[a] += v[a];
        for (let b = 0; b < 3; b++) ss[a][b] += v[a] * v[b];
      }
    }
  }
  const m = d.count * plane;
  return ss.map((row, a) => row.map((x, b) => x / m - (s[a] / m) * (s[b] / m)));
};

/** Eigen-decomposition of a symmetric 3 x 3 matrix by Jacobi rotations: eigenvalues descending, eigenvectors as rows. */
export const symmetricEigen3 = (m: readonly (readonly number[])[]): Pca => {
  const a = m.map((r) => [...r]);
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off < 1e-30) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (Math.abs(a[p][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) { // A <- A J
        const akp = a[k][p], akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) { // A <- J^T A
        const apk = a[p][k], aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) { // V <- V J (columns are eigenvectors)
        const vkp = v[k][p], vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => a[j][j] - a[i][i]);
  return {
    values: order.map((i) => Math.max(0, a[i][i])) as unknown as [number, number, number],
    vectors: order.map((i) => [v[0][i], v[1][i], v[2][i]] as [number, number, number]),
  };
};

/** PCA of the training set's colours; null for data without three channels. */
export const colourPca = (d: Dataset): Pca | null => (d.channels === 3 ? symmetricEigen3(rgbCovariance(d)) : null);

/** One draw of the colour shift, an RGB offset added to every pixel of one image: sum_i p_i a_i sqrt(lambda_i). */
export const colourShift = (pca: Pca, rng: Rng, sigma = 0.1): [number, number, number] => {
  const shift: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    const a = rng.normal(0, sigma) * Math.sqrt(pca.values[i]);
    for (let c = 0; c < 3; c++) shift[c] += pca.vectors[i][c] * a;
  }
  return shift;
};

/** Fits the preprocessing to a training set: its mean image and (for colour data) its colour PCA. */
export const fitPreprocessing = (train: Dataset, crop: number): Preprocessing => ({
  channels: train.channels,
  size: train.size,
  crop,
  mean: meanImage(train),
  pca: colourPca(train),
});

/** A random crop position and reflection. */
export const randomView = (p: Preprocessing, rng: Rng): View => ({
  oy: rng.int(p.size - p.crop + 1),
  ox: rng.int(p.size - p.crop + 1),
  flip: rng.bernoulli(0.5),
});

export const centreView = (size: number, crop: number): View => {
  const o = Math.floor((size - crop) / 2);
  return { oy: o, ox: o, flip: false };
};

/** The paper's ten test crops: four corners and the centre, then the same five reflected. */
export const tenCropViews = (size: number, crop: number): View[] => {
  const e = size - crop;
  const c = centreView(size, crop);
  const five: View[] = [
    { oy: 0, ox: 0, flip: false },
    { oy: 0, ox: e, flip: false },
    { oy: e, ox: 0, flip: false },
    { oy: e, ox: e, flip: false },
    c,
  ];
  return [...five, ...five.map((v) => ({ ...v, flip: true }))];
};

/**
 * An image's crop as a view [channels, crop, crop] over `data` laid out as
 * [channels, size, size]; a reflected view walks the columns backwards.
 */
export const cropView = <D extends ndarray.Data<number>>(data: D, channels: number, size: number, crop: number, v: View): ndarray.NdArray<D> => {
  const img = ndarray(data, [channels, size, size]);
  const c = img.lo(0, v.oy, v.ox).hi(channels, crop, crop);
  return v.flip ? c.step(1, 1, -1) : c;
};

/**
 * Network input for images `indices` of `d`: each image minus the mean image,
 * seen through `views[k]`, plus `shifts[k]` (a colour offset) if given.
 * Returns [indices.length, channels, crop, crop].
 */
export const makeBatch = (
  d: Dataset,
  indices: ArrayLike<number>,
  p: Preprocessing,
  views: readonly View[],
  shifts?: readonly (readonly number[] | null)[],
): Tensor => {
  const { channels: C, size: S, crop: s } = p;
  const out = new Float32Array(indices.length * C * s * s);
  for (let k = 0; k < indices.length; k++) {
    const img = cropView(imageOf(d, indices[k]), C, S, s, views[k]);
    const mean = cropView(p.mean, C, S, s, views[k]);
    const shift = shifts?.[k];
    let o = k * C * s * s;
    for (let c = 0; c < C; c++) {
      const add = shift ? shift[c] : 0;
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++) out[o++] = img.get(c, y, x) - mean.get(c, y, x) + add;
    }
  }
  return Tensor.trusted([indices.length, C, s, s], out);
};

/** A training batch: random crop and reflection, and a fresh colour shift per image (colour data only). */
export const trainingBatch = (d: Dataset, indices: ArrayLike<number>, p: Preprocessing, rng: Rng, colour = true): Tensor => {
  const views: View[] = [];
  const shifts: ([number, number, number] | null)[] = [];
  for (let k = 0; k < indices.length; k++) {
    views.push(randomView(p, rng));
    shifts.push(colour && p.pca ? colourShift(p.pca, rng) : null);
  }
  return makeBatch(d, indices, p, views, shifts);
};
