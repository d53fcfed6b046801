/**
 * Where a gpu.js GL context comes from in a browser: a WebGL2 (or WebGL)
 * context on a canvas of its own, an OffscreenCanvas in a worker. The page's
 * build (tools/web.mjs) puts this module in place of gl-host.ts.
 *
 * Single precision needs float render targets: EXT_color_buffer_float on
 * WebGL2, OES_texture_float on WebGL (gpu.js also reads floats back through
 * them). A context without them is reported unavailable, with the reason.
 */
import type { Availability, GLContext, GlMode } from './gl-types.ts';

export type { Availability, GLContext, GlInfo, GlMode } from './gl-types.ts';

export const HOST_GL_MODES: readonly GlMode[] = ['webgl2', 'webgl'];

const ATTRIBUTES = { alpha: true, antialias: false, depth: false, stencil: false, premultipliedAlpha: false, preserveDrawingBuffer: true, powerPreference: 'high-performance' };

const NEEDS: Record<Exclude<GlMode, 'headlessgl'>, string> = { webgl2: 'EXT_color_buffer_float', webgl: 'OES_texture_float' };

interface Canvas { getContext(kind: string, attrs: object): unknown }
const browser = globalThis as unknown as {
  OffscreenCanvas?: new (w: number, h: number) => Canvas;
  document?: { createElement(tag: 'canvas'): Canvas };
};

const newCanvas = (): Canvas | null => {
  if (browser.OffscreenCanvas) return new browser.OffscreenCanvas(2, 2);
  if (browser.document) return browser.document.createElement('canvas');
  return null;
};

const tryCreate = (mode: GlMode): { context: GLContext; canvas: unknown } | { reason: string } => {
  if (mode === 'headlessgl') return { reason: 'headless-gl is for Node; in a browser gpu.js runs on webgl2 or webgl' };
  const canvas = newCanvas();
  if (!canvas) return { reason: 'this JavaScript context has neither OffscreenCanvas nor a document to make a canvas in' };
  const ctx = canvas.getContext(mode, ATTRIBUTES) as GLContext | null;
  if (!ctx) return { reason: `the browser gave no ${mode} context (WebGL disabled, blocked, or no GPU and no software renderer)` };
  if (!ctx.getExtension(NEEDS[mode])) return { reason: `the ${mode} context has no ${NEEDS[mode]}, which single precision needs` };
  if (mode === 'webgl') ctx.getExtension('WEBGL_color_buffer_float');
  return { context: ctx, canvas };
};

const known = new Map<GlMode, Availability>();

export const glAvailability = (mode: GlMode): Availability => {
  let a = known.get(mode);
  if (!a) {
    const r = tryCreate(mode);
    if ('context' in r) destroyGlContext(r.context);
    a = 'reason' in r ? { available: false, reason: r.reason } : { available: true, reason: null };
    known.set(mode, a);
  }
  return a;
};

export const createGlContext = (mode: GlMode): { context: GLContext; canvas: unknown } | { reason: string } => tryCreate(mode);

export const destroyGlContext = (ctx: GLContext): void => {
  (ctx.getExtension('WEBGL_lose_context') as { loseContext?: () => void } | null)?.loseContext?.();
};
