/**
 * TensorFlow.js's WebGL backend on a headless-gl context. In Node the backend
 * never registers itself (it looks for a browser), so it is registered here
 * with a GPGPUContext over the `gl` package's context. headless-gl is WebGL 1
 * with OES_texture_float, so the flags that TensorFlow.js would probe from a
 * canvas are set from what the context offers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GPGPUContext, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { createGl, describeGl } from '../gl.ts';

export const setupHeadlessWebgl = async (): Promise<string> => {
  const made = createGl(1, 1);
  if ('error' in made) throw new Error(made.error);
  const gl = made.gl;
  if (!gl.getExtension('OES_texture_float')) throw new Error('headless-gl offers no OES_texture_float; TensorFlow.js WebGL 1 needs float textures');
  // TensorFlow.js listens for context loss on the canvas; headless-gl has none.
  (gl as Record<string, unknown>).canvas = { width: 1, height: 1, addEventListener: () => {}, removeEventListener: () => {} };
  const env = tf.env();
  env.set('WEBGL_VERSION', 1);
  env.set('WEBGL_RENDER_FLOAT32_CAPABLE', true);
  env.set('WEBGL_RENDER_FLOAT32_ENABLED', true);
  env.set('WEBGL_DOWNLOAD_FLOAT_ENABLED', true);
  env.set('WEBGL_FENCE_API_ENABLED', false);
  env.set('WEBGL_CHECK_NUMERICAL_PROBLEMS', false);
  env.set('WEBGL_MAX_TEXTURE_SIZE', gl.getParameter(gl.MAX_TEXTURE_SIZE) as number);
  env.set('WEBGL_MAX_TEXTURES_IN_SHADER', gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS) as number);
  tf.registerBackend('webgl', () => new MathBackendWebGL(new GPGPUContext(gl as unknown as ConstructorParameters<typeof GPGPUContext>[0])), 2);
  if (!(await tf.setBackend('webgl'))) throw new Error('TensorFlow.js webgl backend did not initialise on the headless-gl context');
  // A small product checks that the context computes and reads back floats.
  const got = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 2, 3, 4], [2, 2])).dataSync();
  if (![7, 10, 15, 22].every((v, i) => Math.abs(got[i] - v) < 1e-5)) throw new Error(`TensorFlow.js webgl on headless-gl computes wrong values (got ${Array.from(got)})`);
  return describeGl(gl);
};
