/** The backends a tower in the page can run (web/tower.ts), by kind. */
import type { AsyncBackend } from '../core/backend.ts';
import { createWebGpuBackend } from '../backends/gpujs/webgpu.ts';

export type PageTowerKind = 'gpu:webgpu';

export const PAGE_TOWERS: Readonly<Record<PageTowerKind, (name: string) => Promise<AsyncBackend>>> = {
  // gpu.js keeps one device per worker: a tower each is a device each.
  'gpu:webgpu': (name) => createWebGpuBackend({ name }),
};
