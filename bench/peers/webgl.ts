/**
 * TensorFlow.js's WebGL backend on a headless-gl context, for the webgl peer.
 * The setup lives with the TensorFlow.js adapter (backends/tfjs/setup.ts),
 * which shares it: one implementation, registered once per process.
 */
export { setupHeadlessWebgl } from '../../backends/tfjs/setup.ts';
