// The ONNX Runtime peer's thread entry: a worker thread does not inherit the
// TypeScript loader the bench runs under, so this plain JavaScript registers tsx
// and loads ./ort-worker.ts.
const { register } = await import('tsx/esm/api');
register();
await import('./ort-worker.ts');
