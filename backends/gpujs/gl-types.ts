/** What device.ts and the two GL hosts (gl-host.ts for Node, gl-host.browser.ts for the page) share. */

/** gpu.js's GL modes: headless-gl in Node, WebGL2 or WebGL in a browser. */
export type GlMode = 'headlessgl' | 'webgl2' | 'webgl';

export interface Availability {
  readonly available: boolean;
  /** Why not, in words a user can act on; null when available. */
  readonly reason: string | null;
}

/** The part of a WebGL context device.ts touches. */
export type GLContext = {
  createTexture(): unknown;
  deleteTexture(t: unknown): void;
  getExtension(name: string): { destroy?: () => void } | null;
  getParameter(p: number): unknown;
  getShaderPrecisionFormat(shader: number, type: number): { precision: number; rangeMin: number; rangeMax: number } | null;
} & { [k: string]: unknown };

/** What a GL context says of itself. */
export interface GlInfo {
  /** e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...))" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly renderer: string;
  readonly vendor: string;
  /** e.g. "WebGL 2.0 (OpenGL ES 3.0 Chromium)". */
  readonly version: string;
  /** Mantissa bits of a highp float in fragment shaders (23 for IEEE single precision). */
  readonly floatPrecisionBits: number;
}

/** Reads `GlInfo` off a context (the unmasked renderer where the browser tells it). */
export const glInfoOf = (gl: GLContext): GlInfo => {
  const RENDERER = 0x1f01, VENDOR = 0x1f00, VERSION = 0x1f02, FRAGMENT_SHADER = 0x8b30, HIGH_FLOAT = 0x8df2;
  const dbg = gl.getExtension('WEBGL_debug_renderer_info') as { UNMASKED_RENDERER_WEBGL?: number; UNMASKED_VENDOR_WEBGL?: number } | null;
  const read = (p: number | undefined, fallback: number) => String(gl.getParameter(p ?? fallback) ?? gl.getParameter(fallback) ?? '');
  return {
    renderer: read(dbg?.UNMASKED_RENDERER_WEBGL, RENDERER),
    vendor: read(dbg?.UNMASKED_VENDOR_WEBGL, VENDOR),
    version: String(gl.getParameter(VERSION) ?? ''),
    floatPrecisionBits: gl.getShaderPrecisionFormat(FRAGMENT_SHADER, HIGH_FLOAT)?.precision ?? 0,
  };
};
