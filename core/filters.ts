/**
 * The paper's Figure 3: conv1's kernels drawn as a grid, for the CLI's PNG
 * (cli/pictures.ts) and the page's canvas alike.
 */
import { towerSplit } from './alexnet.ts';
import type { Tensor } from './tensor.ts';

export interface FilterGridOptions {
  /** Screen pixels per kernel pixel. */
  readonly zoom: number;
  /** Kernels per row. */
  readonly columns: number;
}

/**
 * Draws conv1's kernels, w [F, C, k, k] with C = 1 (grey) or 3 (RGB), each
 * stretched to the full 0..255 range on its own (as the paper's figure shows
 * them), tower 1's first F/2 kernels in the upper block and tower 2's below,
 * a dark band between. Returns the picture as RGBA bytes, row by row.
 */
export const filterPixels = (w: Tensor, o: FilterGridOptions = { zoom: 4, columns: 8 }): { width: number; height: number; rgba: Uint8Array } => {
  const [F, C, k] = w.shape;
  const towers = towerSplit(F);
  const gap = 1;
  const cell = k * o.zoom + gap;
  const band = 2 * cell;
  const rowsOf = (n: number) => Math.ceil(n / o.columns);
  const width = o.columns * cell + gap;
  const height = (rowsOf(towers[0]) + rowsOf(towers[1])) * cell + gap + band;
  const png = { data: new Uint8Array(width * height * 4) };
  png.data.fill(255);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  // the band between the towers
  const bandTop = rowsOf(towers[0]) * cell + gap + Math.floor(band / 2) - 2;
  for (let y = bandTop; y < bandTop + 3; y++)
    for (let x = 0; x < width; x++) png.data.fill(64, (y * width + x) * 4, (y * width + x) * 4 + 3);
  const per = C * k * k;
  for (let f = 0; f < F; f++) {
    const tower = f < towers[0] ? 0 : 1;
    const j = tower === 0 ? f : f - towers[0];
    const top = (tower === 0 ? 0 : rowsOf(towers[0]) * cell + band) + gap + Math.floor(j / o.columns) * cell;
    const left = gap + (j % o.columns) * cell;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < per; i++) {
      lo = Math.min(lo, w.data[f * per + i]);
      hi = Math.max(hi, w.data[f * per + i]);
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let y = 0; y < k * o.zoom; y++)
      for (let x = 0; x < k * o.zoom; x++) {
        const ky = Math.floor(y / o.zoom);
        const kx = Math.floor(x / o.zoom);
        const at = ((top + y) * width + left + x) * 4;
        for (let c = 0; c < 3; c++) {
          const v = w.data[((f * C + (C === 3 ? c : 0)) * k + ky) * k + kx];
          png.data[at + c] = Math.round((v - lo) * scale);
        }
      }
  }
  return { width, height, rgba: png.data };
};
