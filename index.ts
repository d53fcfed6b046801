/**
 * alexnet-ts: AlexNet (Krizhevsky, Sutskever, Hinton, NIPS 2012) as layers of
 * pure functions over immutable tensors.
 *
 * The package root: tensors, the kernel contract every backend implements,
 * the layers, the network as data (the paper's table and alexnet-mini), the
 * tower executor, parameters, checkpoints (safetensors), errors and the seeded
 * generator. The backends, the verification kit, the data loaders and the
 * training loop are subpaths: alexnet-ts/reference, alexnet-ts/cpu,
 * alexnet-ts/gpujs, alexnet-ts/tfjs, alexnet-ts/ort (ONNX Runtime's kernels),
 * alexnet-ts/verify, alexnet-ts/data, alexnet-ts/train, and alexnet-ts/onnx (a
 * network or checkpoint as an ONNX model).
 */
export * from './core/tensor.ts';
export * from './core/backend.ts';
export * as layers from './core/layers.ts';
export * from './core/alexnet.ts';
export * from './core/net.ts';
export * from './core/params.ts';
export * from './core/checkpoint.ts';
export * from './core/errors.ts';
export { transfer, type TransferLog, type TransferRecord } from './core/transfer.ts';
export { Rng } from './core/rng.ts';
export { Scope } from './core/scope.ts';
export { PAPER_SGD } from './core/train/schedule.ts';
