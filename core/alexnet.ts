/**
 * AlexNet as data: the table of layers in ALEXNET.md (paper section 3.5,
 * Figure 2), and a scaled-down `alexnet-mini` with every feature kept.
 *
 * Each entry is one learned layer and what follows it. `link` says which maps
 * the layer reads when the network runs as two towers:
 *   - 'input': the network input, given to both towers (conv1);
 *   - 'own':   only its own tower's maps (conv2, conv4, conv5): on one device
 *              this is a grouped convolution with 2 groups;
 *   - 'both':  the maps of both towers (conv3, fc6, fc7, fc8): the only places
 *              the towers exchange data.
 * Every layer's units are split between the towers: tower 0 takes the first
 * ceil(units / 2), tower 1 the rest.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { LrnParams, PoolParams } from './backend.ts';
import { outSize } from './backend.ts';
import { type AlexnetError, argumentError } from './errors.ts';

export type Link = 'input' | 'own' | 'both';
export type After = 'relu' | 'lrn' | 'pool' | 'dropout';

export interface ConvSpec {
  readonly kind: 'conv';
  readonly name: string;
  readonly out: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
  readonly link: Link;
  readonly after: readonly After[];
  /** The paper sets some biases to 1 so the ReLUs start with positive input. */
  readonly biasInit: number;
}

export interface FcSpec {
  readonly kind: 'fc';
  readonly name: string;
  readonly out: number;
  readonly link: Link;
  readonly after: readonly After[];
  readonly biasInit: number;
}

export type LayerSpec = ConvSpec | FcSpec;

export interface NetSpec {
  readonly name: string;
  /** Input [C, H, W]. */
  readonly input: readonly [number, number, number];
  readonly classes: number;
  readonly layers: readonly LayerSpec[];
  readonly lrn: LrnParams;
  readonly pool: PoolParams;
  /** Probability of dropping a unit. */
  readonly dropout: number;
  /** Standard deviation of the zero-mean Gaussian the weights start from. */
  readonly initStd: number;
}

/** The paper's LRN constants: k = 2, n = 5, alpha = 1e-4, beta = 0.75. */
export const PAPER_LRN: LrnParams = { k: 2, n: 5, alpha: 1e-4, beta: 0.75 };
/** Overlapping pooling, z = 3, s = 2. */
export const PAPER_POOL: PoolParams = { size: 3, stride: 2 };

/** The paper's network at 227 x 227 (see ALEXNET.md for why 227). */
export const alexnet = (classes = 1000): NetSpec => ({
  name: 'alexnet',
  input: [3, 227, 227],
  classes,
  lrn: PAPER_LRN,
  pool: PAPER_POOL,
  dropout: 0.5,
  initStd: 0.01,
  layers: [
    { kind: 'conv', name: 'conv1', out: 96, kernel: 11, stride: 4, pad: 0, link: 'input', after: ['relu', 'lrn', 'pool'], biasInit: 0 },
    { kind: 'conv', name: 'conv2', out: 256, kernel: 5, stride: 1, pad: 2, link: 'own', after: ['relu', 'lrn', 'pool'], biasInit: 1 },
    { kind: 'conv', name: 'conv3', out: 384, kernel: 3, stride: 1, pad: 1, link: 'both', after: ['relu'], biasInit: 0 },
    { kind: 'conv', name: 'conv4', out: 384, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu'], biasInit: 1 },
    { kind: 'conv', name: 'conv5', out: 256, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu', 'pool'], biasInit: 1 },
    { kind: 'fc', name: 'fc6', out: 4096, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc7', out: 4096, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc8', out: classes, link: 'both', after: [], biasInit: 0 },
  ],
});

/**
 * The same eight-layer design scaled down for small images (Fashion-MNIST's
 * 28 x 28 grey images, stored padded to 32 x 32 and cropped back to 28 x 28 by
 * the data pipeline, as the paper crops 227 out of 256): two towers with the
 * same exchange points, ReLU, LRN after conv1 and conv2, overlapping 3/2
 * pooling after LRN1, LRN2 and conv5, dropout after fc6 and fc7. The widths
 * (conv 32/64/96/96/64, fc 512) are a third of the paper's or less, chosen so
 * that a training step costs about 30 M multiply-adds per image and a
 * Fashion-MNIST epoch takes about four minutes on two CPU cores (README,
 * "Fashion-MNIST", gives what it reaches there).
 *
 * Feature maps at 28 x 28: 28x28x32 -> pool 13x13 -> 13x13x64 -> pool 6x6 ->
 * 6x6x96 -> 6x6x96 -> 6x6x64 -> pool 2x2x64 = 256 -> 512 -> 512 -> classes.
 *
 * Initialisation: the paper's form (zero-mean Gaussian weights, biases 1 in
 * conv2, conv4, conv5, fc6, fc7), with standard deviation 0.05 instead of 0.01.
 * The paper's 0.01 suits its fan-ins (1,200 to 9,216 inputs per unit); with
 * this network's (25 to 576) every layer would shrink its input's spread about
 * ten-fold and the output would start out independent of the image: measured,
 * a whole Fashion-MNIST epoch at 0.01 leaves the network at chance.
 */
export const alexnetMini = (classes = 10, channels = 1, size = 28): NetSpec => ({
  name: 'alexnet-mini',
  input: [channels, size, size],
  classes,
  lrn: PAPER_LRN,
  pool: PAPER_POOL,
  dropout: 0.5,
  initStd: 0.05,
  layers: [
    { kind: 'conv', name: 'conv1', out: 32, kernel: 5, stride: 1, pad: 2, link: 'input', after: ['relu', 'lrn', 'pool'], biasInit: 0 },
    { kind: 'conv', name: 'conv2', out: 64, kernel: 5, stride: 1, pad: 2, link: 'own', after: ['relu', 'lrn', 'pool'], biasInit: 1 },
    { kind: 'conv', name: 'conv3', out: 96, kernel: 3, stride: 1, pad: 1, link: 'both', after: ['relu'], biasInit: 0 },
    { kind: 'conv', name: 'conv4', out: 96, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu'], biasInit: 1 },
    { kind: 'conv', name: 'conv5', out: 64, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu', 'pool'], biasInit: 1 },
    { kind: 'fc', name: 'fc6', out: 512, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc7', out: 512, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc8', out: classes, link: 'both', after: [], biasInit: 0 },
  ],
});

export const MODELS = {
  alexnet: (classes?: number) => alexnet(classes),
  'alexnet-mini': (classes?: number) => alexnetMini(classes),
} as const;
export type ModelName = keyof typeof MODELS;

export const modelByName = (name: string, classes?: number): E.Either<AlexnetError, NetSpec> =>
  Object.hasOwn(MODELS, name)
    ? E.right(MODELS[name as ModelName](classes))
    : E.left(argumentError(`unknown model '${name}'; choose one of: ${Object.keys(MODELS).join(', ')}`));

/** Channels read by a layer's kernels in one tower / in the grouped form. */
export const groupsOf = (l: LayerSpec): number => (l.kind === 'conv' && l.link === 'own' ? 2 : 1);

/** How a layer's units divide between tower 0 and tower 1. */
export const towerSplit = (units: number): readonly [number, number] => [Math.ceil(units / 2), Math.floor(units / 2)];

/** One row of the layer table: shapes, parameters and cost, all derived from the spec. */
export interface LayerInfo {
  readonly name: string;
  readonly spec: LayerSpec;
  /** Input to the layer's learned part, [C, H, W] or [K]. */
  readonly inShape: readonly number[];
  /** Output of the learned part (before pooling). */
  readonly convShape: readonly number[];
  /** Output after everything that follows the layer. */
  readonly outShape: readonly number[];
  readonly weightShape: readonly number[];
  readonly params: number;
  /** Multiply-adds per image of the learned part. */
  readonly macs: number;
}

/**
 * Walks the table once, checking that every layer fits the one before (an
 * input too small for the kernels, say, or an odd unit count for a grouped
 * layer) and deriving every shape.
 */
export const describe = (spec: NetSpec): E.Either<AlexnetError, readonly LayerInfo[]> => {
  const rows: LayerInfo[] = [];
  let shape: readonly number[] = spec.input;
  for (const l of spec.layers) {
    const inShape = shape;
    if (l.kind === 'conv') {
      if (shape.length !== 3) return E.left(argumentError(`${spec.name}: ${l.name} is a convolution but follows a fully connected layer`));
      const [C, H, W] = shape;
      const g = groupsOf(l);
      if (C % g !== 0 || l.out % g !== 0) {
        return E.left(argumentError(`${spec.name}: ${l.name} reads its own tower only, so its ${C} input and ${l.out} output channels must both be even`));
      }
      const OH = outSize(H, l.kernel, l.stride, l.pad);
      const OW = outSize(W, l.kernel, l.stride, l.pad);
      if (OH < 1 || OW < 1) {
        return E.left(argumentError(`${spec.name}: ${l.name} gets a ${H}x${W} map, too small for its ${l.kernel}x${l.kernel} kernel; use a larger input`));
      }
      const weightShape = [l.out, C / g, l.kernel, l.kernel];
      const convShape = [l.out, OH, OW];
      let out: readonly number[] = convShape;
      if (l.after.includes('pool')) {
        const PH = outSize(OH, spec.pool.size, spec.pool.stride, 0);
        const PW = outSize(OW, spec.pool.size, spec.pool.stride, 0);
        if (PH < 1 || PW < 1) return E.left(argumentError(`${spec.name}: the pooling after ${l.name} gets a ${OH}x${OW} map, smaller than its ${spec.pool.size}x${spec.pool.size} window`));
        out = [l.out, PH, PW];
      }
      const perOut = (C / g) * l.kernel * l.kernel;
      rows.push({ name: l.name, spec: l, inShape, convShape, outShape: out, weightShape, params: l.out * perOut + l.out, macs: l.out * OH * OW * perOut });
      shape = out;
    } else {
      const K = shape.reduce((a, b) => a * b, 1);
      rows.push({ name: l.name, spec: l, inShape, convShape: [l.out], outShape: [l.out], weightShape: [l.out, K], params: l.out * K + l.out, macs: l.out * K });
      shape = [l.out];
    }
  }
  const last = spec.layers[spec.layers.length - 1];
  if (last.out !== spec.classes) return E.left(argumentError(`${spec.name}: the last layer has ${last.out} units but the network has ${spec.classes} classes`));
  return E.right(rows);
};

export const parameterCount = (rows: readonly LayerInfo[]): number => rows.reduce((s, r) => s + r.params, 0);
export const macCount = (rows: readonly LayerInfo[]): number => rows.reduce((s, r) => s + r.macs, 0);
