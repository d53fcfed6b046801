/**
 * The progress line of training and evaluation (cli-progress): images done,
 * rate, ETA, and for training the loss and running error. On a terminal it
 * redraws in place; into a file or pipe it prints a line every 15 seconds.
 * It writes to stderr, so stdout carries only results. Training is synchronous
 * and starves cli-progress's own redraw timer, so redraws are driven from
 * `update`.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, fields?: Record<string, string>): void;
  stop(): void;
}

const fmtEta = (s: number): string => {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
};

/**
 * A bar over `total` images, starting at `start`. `extra` names the fields
 * shown after the rate (loss, err, lr for training).
 */
export const progress = (label: string, total: number, start = 0, extra: readonly string[] = []): Progress => {
  const t0 = Date.now();
  const fields = extra.map((f) => `${f} {${f}}`).join(' | ');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {value}/{total} | {rate} img/s | ETA {etaText}${fields ? ` | ${fields}` : ''}`,
      barsize: 24,
      stream: process.stderr,
      hideCursor: false,
      noTTYOutput: true,
      notTTYSchedule: 15000,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const blank = Object.fromEntries(extra.map((f) => [f, '-']));
  bar.start(total, start, { rate: '-', etaText: '?', ...blank });
  const every = process.stderr.isTTY ? 250 : 15000;
  let drawn = Date.now();
  return {
    update(value, f = {}) {
      const secs = (Date.now() - t0) / 1000;
      const rate = secs > 0 ? (value - start) / secs : 0;
      bar.update(value, { rate: rate > 0 ? rate.toFixed(1) : '-', etaText: rate > 0 ? fmtEta((total - value) / rate) : '?', ...f });
      if (Date.now() - drawn >= every) {
        drawn = Date.now();
        (bar as unknown as { render(): void }).render();
      }
    },
    stop() {
      bar.stop();
    },
  };
};
