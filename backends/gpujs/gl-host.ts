/**
 * Where a gpu.js GL context comes from, in Node: headless-gl (the `gl`
 * package), which needs an X server (`xvfb-run -a`). The browser build of the
 * page swaps this module for gl-host.browser.ts, which makes WebGL2 and WebGL
 * contexts on a canvas; device.ts sees the same interface from both.
 */
import { createRequire } from 'node:module';
import { HeadlessGLKernel } from 'gpu.js';
import type { Availability, GLContext, GlMode } from './gl-types.ts';

export type { Availability, GLContext, GlInfo, GlMode } from './gl-types.ts';

/** The GL modes this host can give, best first. */
export const HOST_GL_MODES: readonly GlMode[] = ['headlessgl'];

type CreateGL = (width: number, height: number, options?: object) => GLContext | null;

const require = createRequire(import.meta.url);

let glModule: { create: CreateGL | null; error: string | null } | undefined;
const loadGL = () => {
  if (!glModule) {
    try {
      glModule = { create: require('gl') as CreateGL, error: null };
    } catch (e) {
      glModule = { create: null, error: e instanceof Error ? e.message.split('\n')[0] : String(e) };
    }
  }
  return glModule;
};

let headless: Availability | undefined;

const headlessAvailability = (): Availability => {
  if (headless) return headless;
  const gl = loadGL();
  let reason: string | null = null;
  if (!gl.create) {
    reason = `the 'gl' package did not load (${gl.error}); install the headless GL build dependencies (libxi-dev libx11-dev libxext-dev pkg-config mesa-common-dev) and reinstall it`;
  } else if (!HeadlessGLKernel.isSupported) {
    reason = process.env.DISPLAY
      ? `headless-gl could not open a GL context on display ${process.env.DISPLAY}`
      : 'headless-gl needs an X server and DISPLAY is not set; run under `xvfb-run -a -s "-screen 0 1280x1024x24"`';
  } else {
    const features = (HeadlessGLKernel as unknown as { features: { isTextureFloat: boolean; isFloatRead: boolean } }).features;
    if (!features.isTextureFloat || !features.isFloatRead) {
      reason = 'the GL context has no float textures (OES_texture_float), which single precision needs';
    }
  }
  headless = { available: reason === null, reason };
  return headless;
};

export const glAvailability = (mode: GlMode): Availability =>
  mode === 'headlessgl'
    ? headlessAvailability()
    : { available: false, reason: `${mode} is the browser's GL; in Node gpu.js reaches GL through headless-gl (mode headlessgl). Open the page (npm run web) to run ${mode}` };

/** A new context of `mode`, or a BackendError-worthy reason. */
export const createGlContext = (mode: GlMode): { context: GLContext; canvas: unknown } | { reason: string } => {
  const a = glAvailability(mode);
  if (!a.available) return { reason: a.reason! };
  const ctx = loadGL().create!(2, 2, { preserveDrawingBuffer: true });
  return ctx ? { context: ctx, canvas: null } : { reason: 'gl() returned null' };
};

/** Frees a context made here. */
export const destroyGlContext = (ctx: GLContext): void => {
  ctx.getExtension('STACKGL_destroy_context')?.destroy?.();
};
