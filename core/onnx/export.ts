/**
 * A network as an ONNX model: the forward pass in inference mode (no dropout)
 * of the single-device, grouped form, ONNX opset 13, with a dynamic batch.
 *
 *   input   "input"  float32 [batch, C, H, W]: the network's input, what
 *           Network.forward takes (for a checkpoint: the crop, minus the
 *           matching crop of `preprocessing.mean`)
 *   output  "logits" float32 [batch, classes]
 *
 * Each learned layer is a `Conv` (group 2 for the layers that read their own
 * tower: conv2, conv4, conv5) or, after a `Flatten` of NCHW maps (the order our
 * flatten uses), a `Gemm` with transB = 1 (our fc weights are [out, in]); its
 * weights are initializers under our names (`conv1.weight`, ..., `fc8.bias`).
 * Then what follows the layer: `Relu`; the paper's LRN within each tower, a
 * `Split` of the channels into the towers' halves, an `LRN` on each and a
 * `Concat`; `MaxPool` without padding, floor mode.
 *
 * ONNX's LRN sums the squares over channels c - floor((size-1)/2) ..
 * c + ceil((size-1)/2) and multiplies that sum by alpha / size. Ours sums over
 * c - floor(n/2) .. c + floor(n/2), 2 floor(n/2) + 1 channels, and multiplies by
 * alpha (core/backend.ts LrnParams). So size = 2 floor(n/2) + 1 (the same
 * window; n itself for the paper's odd n = 5) and ONNX alpha = alpha * size
 * (the paper's 1e-4 is 5e-4); bias = k, beta = beta.
 */
import { describe, groupsOf, type NetSpec, towerSplit } from '../alexnet.ts';
import type { LrnParams } from '../backend.ts';
import type { TrainingCheckpoint } from '../checkpoint.ts';
import { orThrow } from '../errors.ts';
import { biasName, type Params, weightName } from '../params.ts';
import { encodeModel, type Initializer, type NodeDef, OPSET } from './proto.ts';

/** Our LRN as ONNX's LRN attributes. */
export const onnxLrn = (p: LrnParams): { size: number; alpha: number; beta: number; bias: number } => {
  const size = 2 * Math.floor(p.n / 2) + 1;
  return { size, alpha: p.alpha * size, beta: p.beta, bias: p.k };
};

/** ONNX's LRN attributes as a node's attrs. */
export const lrnAttrs = (p: LrnParams) => {
  const o = onnxLrn(p);
  return { size: o.size, alpha: { float: o.alpha }, beta: { float: o.beta }, bias: { float: o.bias } };
};

export interface ExportOptions {
  /** The producer's version, recorded in the model (the package's). */
  readonly producerVersion?: string;
  /** More metadata_props (class names, preprocessing). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The batch dimension's name (default "batch"), or a fixed batch size. */
  readonly batch?: string | number;
}

const f32 = (t: { data: Float32Array | Float64Array }): Float32Array =>
  t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);

/** The network `spec` with parameters `params` as .onnx bytes. */
export const exportOnnx = (spec: NetSpec, params: Params, opts: ExportOptions = {}): Uint8Array => {
  const rows = orThrow(describe(spec));
  const nodes: NodeDef[] = [];
  const inits: Initializer[] = [];
  let h = 'input';
  let rank = 4;
  const add = (op: string, name: string, inputs: string[], attrs?: NodeDef['attrs']): string => {
    nodes.push({ op, name, inputs, outputs: [name], attrs });
    return name;
  };
  for (const r of rows) {
    const l = r.spec;
    const w = params.get(weightName(l.name));
    const b = params.get(biasName(l.name));
    if (!w || !b) throw new Error(`${spec.name}: no parameters for ${l.name}`);
    inits.push({ name: weightName(l.name), dims: w.shape, data: f32(w) }, { name: biasName(l.name), dims: b.shape, data: f32(b) });
    if (l.kind === 'conv') {
      h = add('Conv', l.name, [h, weightName(l.name), biasName(l.name)], {
        kernel_shape: [l.kernel, l.kernel], strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad], dilations: [1, 1], group: groupsOf(l),
      });
    } else {
      if (rank !== 2) { h = add('Flatten', `${l.name}.flatten`, [h], { axis: 1 }); rank = 2; }
      h = add('Gemm', l.name, [h, weightName(l.name), biasName(l.name)], { transB: 1, alpha: { float: 1 }, beta: { float: 1 } });
    }
    for (const a of l.after) {
      if (a === 'relu') h = add('Relu', `${l.name}.relu`, [h]);
      else if (a === 'pool') {
        const z = spec.pool.size;
        const s = spec.pool.stride;
        h = add('MaxPool', `${l.name}.pool`, [h], { kernel_shape: [z, z], strides: [s, s], pads: [0, 0, 0, 0], ceil_mode: 0 });
      } else if (a === 'lrn') {
        // Normalisation stays inside a tower, as in the network (core/net.ts).
        const parts = towerSplit(l.out).filter((n) => n > 0);
        if (parts.length === 1) h = add('LRN', `${l.name}.lrn`, [h], lrnAttrs(spec.lrn));
        else {
          const split = `${l.name}.lrn.split.sizes`;
          inits.push({ name: split, dims: [parts.length], data: BigInt64Array.from(parts.map(BigInt)) });
          const halves = parts.map((_, t) => `${l.name}.lrn.tower${t}`);
          nodes.push({ op: 'Split', name: `${l.name}.lrn.split`, inputs: [h, split], outputs: halves, attrs: { axis: 1 } });
          const normed = halves.map((x, t) => add('LRN', `${l.name}.lrn${t}`, [x], lrnAttrs(spec.lrn)));
          h = add('Concat', `${l.name}.lrn`, normed, { axis: 1 });
        }
      }
      // 'dropout' is the identity in inference.
    }
  }
  const last = nodes[nodes.length - 1];
  nodes[nodes.length - 1] = { ...last, outputs: ['logits'] };
  const batch = opts.batch ?? 'batch';
  const lrn = onnxLrn(spec.lrn);
  return encodeModel({
    producerVersion: opts.producerVersion ?? '',
    doc: `${spec.name}: AlexNet (Krizhevsky, Sutskever, Hinton 2012) as alexnet-ts computes it, inference (no dropout); ` +
      `LRN within each tower, the paper's k=${spec.lrn.k} n=${spec.lrn.n} alpha=${spec.lrn.alpha} beta=${spec.lrn.beta} as ONNX LRN size=${lrn.size} alpha=${lrn.alpha} bias=${lrn.bias} beta=${lrn.beta}`,
    metadata: { model: spec.name, spec: JSON.stringify(spec), opset: String(OPSET), ...opts.metadata },
    graph: {
      name: spec.name,
      nodes,
      inputs: [{ name: 'input', shape: [batch, ...spec.input] }],
      outputs: [{ name: 'logits', shape: [batch, spec.classes] }],
      initializers: inits,
    },
  });
};

/**
 * The network of a training checkpoint as .onnx bytes, with what a user of the
 * model needs to feed it in its metadata: the class names, and how the input is
 * made (the crop of the stored image minus the same crop of the checkpoint's
 * `preprocessing.mean`, as core/data/augment.ts's makeBatch makes it; the mean
 * itself stays in the checkpoint).
 */
export const checkpointToOnnx = (ck: TrainingCheckpoint, opts: ExportOptions = {}): Uint8Array =>
  exportOnnx(ck.spec, ck.params, {
    ...opts,
    metadata: {
      classes: JSON.stringify(ck.classNames),
      input: `[batch, ${ck.prep.channels}, ${ck.prep.crop}, ${ck.prep.crop}]: a ${ck.prep.crop}x${ck.prep.crop} crop of an image stored at ${ck.prep.size}x${ck.prep.size}, minus the same crop of the checkpoint's preprocessing.mean`,
      backend: ck.backend,
      epoch: String(ck.state.epoch),
      ...opts.metadata,
    },
  });
