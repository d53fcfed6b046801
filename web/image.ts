/**
 * An image file decoded the way `alexnet classify` decodes it with sharp
 * (core/data/image-folder.ts loadImage), with the browser's decoder: EXIF
 * orientation applied, the shorter side scaled to `side` and the central
 * square cut out (sharp's fit 'cover', position 'centre'), alpha dropped,
 * returned channel-major. A grey network gets libvips's grey: the luminance
 * 0.2126 R + 0.7152 G + 0.0722 B in linear light, encoded back to sRGB. An
 * image already `side` pixels square is not resampled, so for such an image
 * both decoders give the same bytes.
 */
const toLinear = (v: number): number => {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
};
const LINEAR = Float64Array.from({ length: 256 }, (_, v) => toLinear(v));
const toSrgb = (l: number): number => {
  const c = l <= 0.0031308 ? 12.92 * l : 1.055 * l ** (1 / 2.4) - 0.055;
  return Math.max(0, Math.min(255, Math.round(255 * c)));
};

interface Canvas2D {
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  drawImage(img: unknown, sx: number, sy: number, sw: number, sh: number, dx: number, dy: number, dw: number, dh: number): void;
  imageSmoothingEnabled: boolean;
  imageSmoothingQuality: string;
}
const g = globalThis as unknown as {
  createImageBitmap(b: Blob, o?: object): Promise<{ width: number; height: number; close(): void }>;
  OffscreenCanvas: new (w: number, h: number) => { getContext(kind: '2d', o?: object): Canvas2D | null };
};

export const decodeImage = async (bytes: ArrayBuffer, type: string, side: number, channels: 1 | 3, name: string): Promise<Uint8Array> => {
  let bitmap;
  try {
    bitmap = await g.createImageBitmap(new Blob([bytes], { type }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    throw new Error(`${name}: not a readable PNG or JPEG image (${(e as Error).message})`);
  }
  const s = Math.min(bitmap.width, bitmap.height);
  const canvas = new g.OffscreenCanvas(side, side);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
  if (!ctx) throw new Error('the browser gave no 2-D canvas to decode the image on');
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, (bitmap.width - s) / 2, (bitmap.height - s) / 2, s, s, 0, 0, side, side);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, side, side).data;
  const n = side * side;
  const out = new Uint8Array(channels * n);
  for (let p = 0; p < n; p++) {
    const r = rgba[4 * p], gg = rgba[4 * p + 1], b = rgba[4 * p + 2];
    if (channels === 3) {
      out[p] = r;
      out[n + p] = gg;
      out[2 * n + p] = b;
    } else {
      out[p] = r === gg && gg === b ? r : toSrgb(0.2126 * LINEAR[r] + 0.7152 * LINEAR[gg] + 0.0722 * LINEAR[b]);
    }
  }
  return out;
};
