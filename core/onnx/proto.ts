/**
 * ONNX models as bytes: ONNX's own schema (onnx.proto beside this file, ONNX
 * 1.12.0's) read by protobufjs, and small builders for the messages this
 * project writes (graphs of Conv, LRN, MaxPool, Gemm and the like over float32
 * tensors). The exporter (export.ts) and the ONNX Runtime adapter's one-node
 * models (backends/ort) are built from these.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

/** IR version 8 (ONNX 1.10 to 1.12) and opset 13: what ONNX Runtime and ONNX 1.12's checker both take. */
export const IR_VERSION = 8;
export const OPSET = 13;

/** TensorProto.DataType values used here. */
export const FLOAT = 1;
export const INT64 = 7;

let root: protobuf.Root | undefined;
const schema = (): protobuf.Root =>
  (root ??= protobuf.parse(readFileSync(new URL('./onnx.proto', import.meta.url), 'utf8'), { keepCase: true }).root);

const modelType = (): protobuf.Type => schema().lookupType('onnx.ModelProto');

/** A dimension: a fixed size, or a name (a dynamic dimension such as the batch). */
export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly elemType?: number;
  readonly shape: readonly Dim[];
}

export type AttrValue = number | readonly number[] | string | { readonly float: number };

export interface NodeDef {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Integers (and lists of them) are INT/INTS; `{ float: x }` is FLOAT; strings are STRING. */
  readonly attrs?: Readonly<Record<string, AttrValue>>;
}

export interface Initializer {
  readonly name: string;
  readonly dims: readonly number[];
  /** float32 values, or int64 ones given as a BigInt64Array. */
  readonly data: Float32Array | BigInt64Array;
}

export interface GraphDef {
  readonly name: string;
  readonly nodes: readonly NodeDef[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers: readonly Initializer[];
  readonly doc?: string;
}

export interface ModelDef {
  readonly graph: GraphDef;
  readonly producerVersion: string;
  readonly doc?: string;
  /** metadata_props: free-form strings ONNX Runtime reports as the model's custom metadata. */
  readonly metadata?: Readonly<Record<string, string>>;
}

const attribute = (name: string, v: AttrValue) => {
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; give { float: ${v} } for a FLOAT`);
    return { name, type: 2, i: v };
  }
  if ('float' in v) return { name, type: 1, f: v.float };
  return { name, type: 7, ints: [...v] };
};

const valueInfo = (v: ValueInfo) => ({
  name: v.name,
  type: { tensor_type: { elem_type: v.elemType ?? FLOAT, shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
});

const tensor = (t: Initializer) => ({
  name: t.name,
  dims: [...t.dims],
  data_type: t.data instanceof Float32Array ? FLOAT : INT64,
  // raw_data is little-endian, as typed arrays are on every platform Node runs on.
  raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
});

/** The model as ONNX protobuf bytes (a .onnx file). */
export const encodeModel = (m: ModelDef): Uint8Array => {
  const g = m.graph;
  const T = modelType();
  const msg = T.fromObject({
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'alexnet-ts',
    producer_version: m.producerVersion,
    doc_string: m.doc ?? '',
    metadata_props: Object.entries(m.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      doc_string: g.doc ?? '',
      node: g.nodes.map((n, i) => ({
        op_type: n.op, input: [...n.inputs], output: [...n.outputs], name: n.name ?? `${n.op}_${i}`,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
      initializer: g.initializers.map(tensor),
    },
  });
  return T.encode(msg).finish();
};

/** What a decoded model holds, as plain objects (snake_case fields, ONNX's names). */
export interface DecodedModel {
  readonly ir_version: number;
  readonly opset_import: readonly { domain?: string; version: number }[];
  readonly producer_name: string;
  readonly metadata_props: readonly { key: string; value: string }[];
  readonly graph: {
    readonly name: string;
    readonly node: readonly { op_type: string; input: string[]; output: string[]; name: string; attribute: { name: string; i?: number; f?: number; ints?: number[] }[] }[];
    readonly input: readonly { name: string }[];
    readonly output: readonly { name: string }[];
    readonly initializer: readonly { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }[];
  };
}

/** Reads .onnx bytes back (for checks; int64s become numbers). */
export const decodeModel = (bytes: Uint8Array): DecodedModel => {
  const T = modelType();
  return T.toObject(T.decode(bytes), { longs: Number, arrays: true, defaults: true }) as unknown as DecodedModel;
};
