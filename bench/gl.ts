/**
 * Headless GL as this suite sees it: a context for TensorFlow.js's WebGL
 * backend, and a description of the renderer for the machine record. The
 * helpers live with the TensorFlow.js adapter (backends/tfjs/gl.ts), which
 * needs them too; backends never import from bench/.
 */
export { createGl, describeGl, type GL, type WebGLRenderingContextLike } from '../backends/tfjs/gl.ts';
