/**
 * Headless GL (the `gl` package, WebGL 1 over Mesa): a context for
 * TensorFlow.js's WebGL backend (backends/tfjs/setup.ts), and a description of
 * the renderer for the adapter's `detail` and the bench's machine record
 * (bench/gl.ts re-exports both). WebGL reports its renderer only as "ANGLE", so
 * the native driver is read from the libraries the process has mapped (Mesa's
 * swrast driver with libLLVM is llvmpipe) and Mesa's package version.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export type GL = WebGLRenderingContextLike;

/** The part of WebGLRenderingContext this project touches (the project compiles without the DOM types). */
export interface WebGLRenderingContextLike {
  readonly VERSION: number;
  readonly RENDERER: number;
  readonly MAX_TEXTURE_SIZE: number;
  readonly MAX_TEXTURE_IMAGE_UNITS: number;
  getParameter(p: number): unknown;
  getExtension(name: string): unknown;
  [key: string]: unknown;
}

/** A headless-gl context, or the reason there is none (no X display, `gl` not built). */
export const createGl = (width = 1, height = 1): { gl: GL } | { error: string } => {
  let make: (w: number, h: number, o?: object) => GL | null;
  try {
    make = require('gl');
  } catch (e) {
    return { error: `the gl package does not load: ${(e as Error).message.split('\n')[0]}` };
  }
  const gl = make(width, height, { alpha: false, depth: false, stencil: false, antialias: false, premultipliedAlpha: false, preserveDrawingBuffer: false });
  if (!gl) return { error: `headless-gl gives no context${process.env.DISPLAY ? '' : ' (DISPLAY is not set: run under xvfb-run)'}` };
  return { gl };
};

const nativeDriver = (): string => {
  let maps = '';
  try { maps = readFileSync('/proc/self/maps', 'utf8'); } catch { return 'native driver unknown'; }
  const libs = new Set(maps.split('\n').map((l) => l.trim().split(/\s+/)[5]).filter((p): p is string => !!p));
  const names = [...libs].map((p) => p.split('/').pop()!);
  const dri = names.filter((n) => n.endsWith('_dri.so')).map((n) => n.replace('_dri.so', ''));
  const llvm = names.find((n) => n.startsWith('libLLVM'))?.match(/libLLVM-?([\d.]+)/)?.[1]?.split('.')[0];
  let mesa = '';
  try { mesa = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'libgl1-mesa-dri'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not Debian */ }
  const driver = dri.length === 0 ? 'no DRI driver mapped'
    : dri.includes('swrast') ? (llvm ? `llvmpipe (swrast_dri, LLVM ${llvm})` : 'softpipe (swrast_dri, no LLVM)')
      : dri.join('+');
  return `Mesa${mesa ? ` ${mesa.replace(/-.*$/, '')}` : ''} ${driver}`;
};

/** "WebGL 1.0 stack-gl 8.1.6 / ANGLE on Mesa 22.3.6 llvmpipe (swrast_dri, LLVM 15)". */
export const describeGl = (gl: GL): string =>
  `${String(gl.getParameter(gl.VERSION))} / ${String(gl.getParameter(gl.RENDERER))} on ${nativeDriver()}`;
