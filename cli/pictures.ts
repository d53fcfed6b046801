/**
 * The pictures the CLI writes: the conv1 kernels as a PNG grid (pngjs; the
 * drawing is core/filters.ts, which the page shares), and the training
 * curve (loss and error against epochs) as an SVG drawn by hand.
 */
import { PNG } from 'pngjs';
import { type FilterGridOptions, filterPixels } from '../core/filters.ts';
import type { Tensor } from '../core/tensor.ts';
import type { HistoryPoint } from '../core/train/loop.ts';

/** conv1's kernels as a PNG (see core/filters.ts for the layout). */
export const filterGrid = (w: Tensor, o?: FilterGridOptions): Buffer => {
  const { width, height, rgba } = filterPixels(w, o);
  const png = new PNG({ width, height });
  png.data.set(rgba);
  return PNG.sync.write(png);
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * The training curve: training loss (left axis) and training and validation
 * top-1 error (right axis, 0..100%) at each validation, against epochs; the
 * learning-rate drops marked.
 */
export const curveSvg = (history: readonly HistoryPoint[], title: string): string => {
  const W = 720, H = 400, L = 60, R = 60, T = 40, B = 50;
  const pw = W - L - R, ph = H - T - B;
  const maxEpoch = Math.max(1e-9, ...history.map((p) => p.epoch));
  const maxLoss = Math.max(1e-9, ...history.map((p) => p.trainLoss)) * 1.05;
  const x = (e: number) => L + (e / maxEpoch) * pw;
  const yLoss = (v: number) => T + ph - (v / maxLoss) * ph;
  const yErr = (v: number) => T + ph - v * ph;
  const line = (pts: [number, number][], colour: string, dash = '') =>
    pts.length === 0 ? '' : `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>` +
      pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="2.5" fill="${colour}"/>`).join('');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const e = (maxEpoch * i) / 5;
    parts.push(`<line x1="${x(e)}" y1="${T + ph}" x2="${x(e)}" y2="${T + ph + 5}" stroke="#888"/><text x="${x(e)}" y="${T + ph + 18}" text-anchor="middle">${e.toFixed(maxEpoch < 5 ? 2 : 1)}</text>`);
    const v = i / 5;
    parts.push(`<text x="${L - 6}" y="${yLoss(maxLoss * v) + 4}" text-anchor="end" fill="#1f77b4">${(maxLoss * v).toFixed(2)}</text>`);
    parts.push(`<text x="${W - R + 6}" y="${yErr(v) + 4}" fill="#d62728">${Math.round(v * 100)}%</text>`);
    parts.push(`<line x1="${L}" y1="${yErr(v)}" x2="${L + pw}" y2="${yErr(v)}" stroke="#eee"/>`);
  }
  parts.push(`<text x="${L + pw / 2}" y="${H - 12}" text-anchor="middle">epochs</text>`);
  parts.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle" fill="#1f77b4">training loss</text>`);
  parts.push(`<text transform="translate(${W - 12} ${T + ph / 2}) rotate(90)" text-anchor="middle" fill="#d62728">top-1 error</text>`);
  history.forEach((p, i) => {
    if (i > 0 && p.lr < history[i - 1].lr) {
      const e = history[i - 1].epoch;
      parts.push(`<line x1="${x(e)}" y1="${T}" x2="${x(e)}" y2="${T + ph}" stroke="#999" stroke-dasharray="2 3"/><text x="${x(e) + 3}" y="${T + 12}" fill="#666">lr ${p.lr}</text>`);
    }
  });
  parts.push(line(history.map((p) => [x(p.epoch), yLoss(p.trainLoss)]), '#1f77b4'));
  parts.push(line(history.map((p) => [x(p.epoch), yErr(p.trainError)]), '#ff7f0e', '5 3'));
  parts.push(line(history.map((p) => [x(p.epoch), yErr(p.valError)]), '#d62728'));
  const legend = [['#1f77b4', 'training loss'], ['#ff7f0e', 'training error (augmented, dropout on)'], ['#d62728', 'validation error (centre crop)']];
  legend.forEach(([c, t], i) => parts.push(`<rect x="${L + 10}" y="${T + 10 + i * 16}" width="12" height="3" fill="${c}"/><text x="${L + 28}" y="${T + 15 + i * 16}">${t}</text>`));
  parts.push('</svg>');
  return parts.join('\n');
};
