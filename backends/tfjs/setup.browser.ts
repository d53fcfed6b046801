/**
 * TensorFlow.js in the page: its webgl backend on the browser's own WebGL
 * (WebGL2 where there is one; in a worker on an OffscreenCanvas), and its
 * webgpu backend on the browser's WebGPU. The page's build puts this module
 * in place of setup.ts, whose headless-gl, wasm-path and cpu set-up are
 * Node's.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
// The gradients tf.grad needs (in Node, loading @tensorflow/tfjs registers them).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { adapterInfoOf, type AdapterInfo, describeAdapter, requestAdapter } from '../webgpu/node.ts';

export type TfjsBackend = 'cpu' | 'wasm' | 'webgl' | 'webgpu';

export interface TfjsSetup {
  readonly backend: TfjsBackend;
  readonly detail: string;
  readonly gl?: string;
  readonly adapter?: AdapterInfo;
}

export const TFJS_MISSING = 'TensorFlow.js is not in this page\'s build';

export const setupTfjs = async (which: TfjsBackend): Promise<TfjsSetup> => {
  if (which === 'webgpu') {
    const adapter = adapterInfoOf(await requestAdapter());
    if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js\'s webgpu backend did not initialise in this browser');
    await tf.ready();
    return { backend: which, detail: `tfjs-core ${tf.version_core}, webgpu backend in the browser on ${describeAdapter(adapter)}; reads are await tensor.data()`, adapter };
  }
  if (which !== 'webgl') throw new Error(`the page runs TensorFlow.js's webgl and webgpu backends only, not ${which}`);
  if (!(await tf.setBackend('webgl'))) throw new Error('TensorFlow.js\'s webgl backend did not initialise in this browser (no WebGL?)');
  await tf.ready();
  const gl = (tf.backend() as MathBackendWebGL).gpgpu.gl;
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  const version = tf.env().getNumber('WEBGL_VERSION');
  // A small product checks that the context computes and reads back floats.
  const got = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 2, 3, 4], [2, 2])).dataSync());
  if (![7, 10, 15, 22].every((v, i) => Math.abs(got[i] - v) < 1e-5)) throw new Error(`TensorFlow.js webgl computes wrong values here (got ${Array.from(got)})`);
  return { backend: which, detail: `tfjs-core ${tf.version_core}, webgl backend in the browser (WebGL ${version}, ${renderer})`, gl: renderer };
};
