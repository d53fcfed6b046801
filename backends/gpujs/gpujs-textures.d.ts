/** gpu.js's texture classes device.ts reaches by path (gpu.js ships no types for them). */
declare module 'gpu.js/src/backend/gl/texture/array-4-float-3d.js' {
  export const GLTextureArray4Float3D: new (settings: object) => import('gpu.js').Texture;
}
declare module 'gpu.js/src/backend/gl/texture/memory-optimized-3d.js' {
  export const GLTextureMemoryOptimized3D: new (settings: object) => import('gpu.js').Texture;
}
