/**
 * ONNX out: a network, or a training checkpoint's, as an ONNX model
 * (export.ts), and ONNX's protobuf schema through protobufjs (proto.ts).
 * `alexnet export --onnx FILE` is the command line's way to it.
 */
export { checkpointToOnnx, exportOnnx, type ExportOptions, lrnAttrs, onnxLrn } from './export.ts';
export { decodeModel, type DecodedModel, encodeModel, IR_VERSION, OPSET } from './proto.ts';
