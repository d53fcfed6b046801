/**
 * `npm run bench -- --report`: the history rendered.
 *
 * - bench/report/throughput.svg: images per second of every subject over the
 *   records of the latest record's machine (one panel per figure, log scale);
 * - bench/report/layers.svg: the latest run's GFLOP/s per layer and subject,
 *   forward and training (log scale);
 * - bench/report/layer-time.svg: where each subject's profiled time goes, layer
 *   by layer (shares of the whole);
 * - bench/RESULTS.md: the latest run's tables with their ratios, the flags,
 *   the per-kernel tables, and the history as a table;
 * - docs/performance.md: the block between the bench markers gets the latest
 *   throughput table and the command that produced it.
 *
 * "The latest" is the latest record of a Node run: records made in a browser
 * (imported with `--import`; machine key `browser:...`) get a section of
 * their own in RESULTS.md, one per browser and machine, and their own block
 * in docs/performance.md (between the bench:browser markers, added after the
 * Node block the first time), and never replace the Node figures.
 *
 * SVG is written by hand: no plotting dependency, and the files diff as text.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUBJECTS } from './plan.ts';
import { summariseLayers } from './profile.ts';
import { readHistory } from './history.ts';
import { type BenchRecord, inBrowser, throughputKey } from './record.ts';
import { dominantLines, flagLines, kernelTable, layerTable, machineLine, machineName, notAvailableLines, num, peakLines, throughputTable, towerLines } from './table.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);

export const README_START = '<!-- bench:latest:start -->';
export const README_END = '<!-- bench:latest:end -->';
export const BROWSER_START = '<!-- bench:browser:start -->';
export const BROWSER_END = '<!-- bench:browser:end -->';

const COLOURS: Record<string, string> = {
  'gpujs-gl-2ctx': '#1f77b4',
  'gpujs-gl-1ctx': '#17becf',
  'gpujs-webasm': '#9467bd',
  cpu: '#2ca02c',
  'cpu-2ctx': '#98df8a',
  reference: '#7f7f7f',
  'tfjs-webgl': '#d62728',
  'tfjs-webgpu': '#ff9896',
  'tfjs-wasm': '#ff7f0e',
  'tfjs-cpu': '#8c564b',
  pytorch: '#e377c2',
  'ort-node': '#bcbd22',
  'ort-wasm': '#dbdb8d',
  // The page's subjects: the colours of their Node counterparts.
  'browser-gpujs-2ctx': '#1f77b4',
  'browser-gpujs-1ctx': '#17becf',
  'browser-tfjs-webgl': '#d62728',
  'gpujs-webgpu-2dev': '#393b79',
  'gpujs-webgpu-1dev': '#6b6ecf',
  'browser-gpujs-webgpu-2dev': '#393b79',
  'browser-gpujs-webgpu-1dev': '#6b6ecf',
  'browser-tfjs-webgpu': '#ff9896',
};
const colour = (id: string) => COLOURS[id] ?? '#000000';
const label = (id: string) => SUBJECTS.find((s) => s.id === id)?.label ?? id;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';

// ---- log-scale axes ------------------------------------------------------------

interface LogAxis { lo: number; hi: number; ticks: number[] }

const logAxis = (values: number[]): LogAxis => {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  const lo = pos.length ? 10 ** Math.floor(Math.log10(Math.min(...pos))) : 0.1;
  const hi = pos.length ? 10 ** Math.ceil(Math.log10(Math.max(...pos)) + 1e-9) : 10;
  const ticks: number[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) for (const m of [1, 2, 5]) if (d * m <= hi * 1.0001) ticks.push(d * m);
  return { lo, hi: Math.max(hi, lo * 10), ticks };
};

const yOf = (a: LogAxis, v: number, top: number, height: number) =>
  top + height - ((Math.log10(v) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo))) * height;

const yAxis = (a: LogAxis, x: number, top: number, height: number, width: number, unit: string): string[] => [
  ...a.ticks.map((t) => {
    const y = yOf(a, t, top, height).toFixed(1);
    const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
    return `<line x1="${x}" x2="${x + width}" y1="${y}" y2="${y}" stroke="${major ? '#bbb' : '#e5e5e5'}" stroke-width="1"/>`
      + `<text x="${x - 4}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle" ${FONT}>${Number(t.toPrecision(1))}</text>`;
  }),
  `<text x="${x - 40}" y="${top + height / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${x - 40} ${top + height / 2})" ${FONT}>${esc(unit)} (log scale)</text>`,
];

const legend = (ids: string[], x: number, y: number): string[] =>
  ids.map((id, i) => `<rect x="${x}" y="${y + i * 16}" width="12" height="10" fill="${colour(id)}"/>`
    + `<text x="${x + 18}" y="${y + i * 16 + 9}" font-size="11" ${FONT}>${esc(label(id))}</text>`);

/** Roughly how wide a line of 11px text is. */
const textWidth = (s: string, size = 11) => Math.ceil(s.length * size * 0.6);

const svg = (w: number, h: number, body: string[]) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">\n<rect width="${w}" height="${h}" fill="white"/>\n${body.join('\n')}\n</svg>\n`;

// ---- charts ----------------------------------------------------------------------

/** Throughput per subject over the machine's records, one panel per figure. */
export const throughputChart = (records: readonly BenchRecord[]): string => {
  const keys = [...new Set(records.flatMap((r) => r.subjects.flatMap((s) => s.throughput.map((t) => throughputKey(t.kind, t.batch)))))]
    .sort((a, b) => (a.startsWith('inference') === b.startsWith('inference') ? Number(a.split('b')[1]) - Number(b.split('b')[1]) : a.startsWith('inference') ? -1 : 1));
  const ids = SUBJECTS.map((s) => s.id).filter((id) => records.some((r) => r.subjects.some((s) => s.id === id && s.throughput.length > 0)));
  const panelH = 220;
  const left = 80;
  const plotW = 520;
  const top0 = 64;
  const W = left + plotW + 40 + Math.max(...ids.map((id) => textWidth(label(id))), 100);
  const body: string[] = [`<text x="${left}" y="22" font-size="14" font-weight="bold" ${FONT}>AlexNet 227x227 throughput per commit (images/s, median; bars: min–max; load = 1-minute load average at the start)</text>`];
  const xOf = (i: number) => left + (records.length === 1 ? plotW / 2 : (i / (records.length - 1)) * plotW);
  keys.forEach((key, p) => {
    const top = top0 + p * (panelH + 64);
    const vals = records.flatMap((r) => r.subjects.flatMap((s) => s.throughput.filter((t) => throughputKey(t.kind, t.batch) === key).flatMap((t) => [t.imagesPerSecond.min, t.imagesPerSecond.max])));
    const a = logAxis(vals);
    body.push(`<text x="${left}" y="${top - 8}" font-size="12" font-weight="bold" ${FONT}>${esc(key)}</text>`);
    body.push(...yAxis(a, left, top, panelH, plotW, 'img/s'));
    records.forEach((r, i) => body.push(`<text x="${xOf(i)}" y="${top + panelH + 14}" font-size="9" text-anchor="middle" ${FONT}>${esc(r.commit.slice(0, 7))}</text>`
      + `<text x="${xOf(i)}" y="${top + panelH + 26}" font-size="9" text-anchor="middle" fill="#666" ${FONT}>${esc(r.date.slice(5, 16).replace('T', ' '))}</text>`
      + (r.machine.load ? `<text x="${xOf(i)}" y="${top + panelH + 38}" font-size="9" text-anchor="middle" fill="#666" ${FONT}>${esc(`load ${r.machine.load.start}`)}</text>` : '')));
    for (const id of ids) {
      const pts = records.flatMap((r, i) => {
        const t = r.subjects.find((s) => s.id === id)?.throughput.find((x) => throughputKey(x.kind, x.batch) === key);
        return t ? [{ x: xOf(i), t }] : [];
      });
      if (pts.length === 0) continue;
      const c = colour(id);
      if (pts.length > 1) body.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((q) => `${q.x.toFixed(1)},${yOf(a, q.t.imagesPerSecond.median, top, panelH).toFixed(1)}`).join(' ')}"/>`);
      for (const q of pts) {
        body.push(`<line x1="${q.x}" x2="${q.x}" y1="${yOf(a, q.t.imagesPerSecond.min, top, panelH).toFixed(1)}" y2="${yOf(a, q.t.imagesPerSecond.max, top, panelH).toFixed(1)}" stroke="${c}" stroke-width="1"/>`);
        body.push(`<circle cx="${q.x}" cy="${yOf(a, q.t.imagesPerSecond.median, top, panelH).toFixed(1)}" r="3.5" fill="${c}"><title>${esc(`${label(id)}, ${key}: ${num(q.t.imagesPerSecond.median)} img/s`)}</title></circle>`);
      }
    }
  });
  body.push(...legend(ids, left + plotW + 20, top0));
  return svg(W, top0 + keys.length * (panelH + 64) + 10, body);
};

/** GFLOP/s per layer and subject in the latest run (forward, and training when profiled). */
export const layersChart = (r: BenchRecord): string => {
  const subjects = r.subjects.filter((s) => s.available && s.profile);
  const layers = r.model.layers.map((l) => l.name);
  const panels: { title: string; value: (id: string, layer: string) => number | null }[] = [
    { title: 'forward: learned kernel and what follows it', value: (id, layer) => summaryOf(r, id, layer)?.forwardGflops ?? null },
  ];
  if (subjects.some((s) => s.profile!.kernels.some((k) => k.pass === 'backward'))) {
    panels.push({ title: 'training: forward and both backward products over their time', value: (id, layer) => { const l = summaryOf(r, id, layer); return l && !l.incomplete ? l.trainGflops : null; } });
  }
  const left = 80;
  const groupW = Math.max(60, subjects.length * 12 + 16);
  const plotW = layers.length * groupW;
  const panelH = 230;
  const top0 = 64;
  const body: string[] = [`<text x="${left}" y="22" font-size="14" font-weight="bold" ${FONT}>${esc(`GFLOP/s per layer, ${r.date.slice(0, 10)} ${r.commit.slice(0, 7)} (profile batch per subject in the legend)`)}</text>`];
  panels.forEach((panel, p) => {
    const top = top0 + p * (panelH + 64);
    const vals = subjects.flatMap((s) => layers.map((l) => panel.value(s.id, l) ?? 0));
    const a = logAxis(vals);
    body.push(`<text x="${left}" y="${top - 8}" font-size="12" font-weight="bold" ${FONT}>${esc(panel.title)}</text>`);
    body.push(...yAxis(a, left, top, panelH, plotW, 'GFLOP/s'));
    layers.forEach((layer, li) => {
      const gx = left + li * groupW + 8;
      body.push(`<text x="${gx + (subjects.length * 12) / 2}" y="${top + panelH + 14}" font-size="11" text-anchor="middle" ${FONT}>${esc(layer)}</text>`);
      subjects.forEach((s, si) => {
        const v = panel.value(s.id, layer);
        if (!v || !(v > 0)) return;
        const y = yOf(a, Math.max(v, a.lo), top, panelH);
        body.push(`<rect x="${gx + si * 12}" y="${y.toFixed(1)}" width="10" height="${(top + panelH - y).toFixed(1)}" fill="${colour(s.id)}"><title>${esc(`${s.label}, ${layer}: ${num(v)} GFLOP/s`)}</title></rect>`);
      });
    });
  });
  const ids = subjects.map((s) => s.id);
  body.push(...ids.map((id, i) => {
    const s = subjects[i];
    return `<rect x="${left + plotW + 20}" y="${top0 + i * 16}" width="12" height="10" fill="${colour(id)}"/>`
      + `<text x="${left + plotW + 38}" y="${top0 + i * 16 + 9}" font-size="11" ${FONT}>${esc(`${s.label} (batch ${s.profile!.batch})`)}</text>`;
  }));
  const legendW = Math.max(...subjects.map((s) => textWidth(`${s.label} (batch ${s.profile!.batch})`)), 100);
  return svg(left + plotW + 60 + legendW, top0 + panels.length * (panelH + 64) + 10, body);
};

const summaryOf = (r: BenchRecord, id: string, layer: string) => {
  const s = r.subjects.find((x) => x.id === id);
  return s?.profile ? summariseLayers(s.profile).find((l) => l.layer === layer) : undefined;
};

/** Each subject's profiled time split by layer, as shares of its whole. */
export const layerTimeChart = (r: BenchRecord): string => {
  const subjects = r.subjects.filter((s) => s.available && s.profile);
  const layers = r.model.layers.map((l) => l.name);
  const shades = ['#08306b', '#2171b5', '#6baed6', '#c6dbef', '#fdd0a2', '#fd8d3c', '#d94801', '#7f2704'];
  const left = Math.max(...subjects.map((s) => textWidth(`${s.label}, b${s.profile!.batch}`)), 100) + 16;
  const barW = 480;
  const rowH = 24;
  const top = 50;
  const body: string[] = [`<text x="10" y="22" font-size="14" font-weight="bold" ${FONT}>${esc(`Where the time goes: share of each subject's profiled kernels per layer (${r.commit.slice(0, 7)})`)}</text>`];
  subjects.forEach((s, i) => {
    const ls = summariseLayers(s.profile!);
    const total = ls.reduce((a, l) => a + l.totalMs, 0);
    const y = top + i * rowH;
    body.push(`<text x="${left - 6}" y="${y + rowH / 2}" font-size="11" text-anchor="end" dominant-baseline="middle" ${FONT}>${esc(`${s.label}, b${s.profile!.batch}`)}</text>`);
    let x = left;
    ls.forEach((l) => {
      const w = total > 0 ? (l.totalMs / total) * barW : 0;
      const shade = shades[layers.indexOf(l.layer) % shades.length];
      body.push(`<rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${shade}"><title>${esc(`${l.layer}: ${num((100 * l.totalMs) / total)}% (${num(l.totalMs)} ms)`)}</title></rect>`);
      if (w > 26) body.push(`<text x="${(x + w / 2).toFixed(1)}" y="${y + rowH / 2}" font-size="9" text-anchor="middle" dominant-baseline="middle" fill="${layers.indexOf(l.layer) < 2 || layers.indexOf(l.layer) > 5 ? 'white' : 'black'}" ${FONT}>${esc(l.layer)}</text>`);
      x += w;
    });
  });
  const ly = top + subjects.length * rowH + 12;
  layers.forEach((l, i) => body.push(`<rect x="${left + i * 60}" y="${ly}" width="12" height="10" fill="${shades[i % shades.length]}"/><text x="${left + i * 60 + 16}" y="${ly + 9}" font-size="10" ${FONT}>${esc(l)}</text>`));
  return svg(Math.max(left + barW + 30, textWidth(`Where the time goes: share of each subject's profiled kernels per layer (${r.commit.slice(0, 7)})`, 14) + 20), ly + 30, body);
};

// ---- Markdown ------------------------------------------------------------------------

const historyTable = (records: readonly BenchRecord[]): string => {
  const keys = ['inference b1', 'inference b16', 'training b8'];
  const ids = SUBJECTS.map((s) => s.id).filter((id) => records.some((r) => r.subjects.some((s) => s.id === id && s.throughput.length)));
  const header = ['date', 'commit', 'mode', 'machine', ...ids.map((id) => `${id} img/s (${keys.map((k) => k.replace('inference ', 'inf ').replace('training ', 'train ')).join(' / ')})`), 'flags'];
  const rows = records.map((r) => [
    r.date.slice(0, 16).replace('T', ' '), `${r.commit}${r.dirty ? '+' : ''}`, r.plan.mode, machineName(r),
    ...ids.map((id) => {
      const s = r.subjects.find((x) => x.id === id);
      if (!s || !s.available) return '-';
      return keys.map((k) => num(s.throughput.find((t) => throughputKey(t.kind, t.batch) === k)?.imagesPerSecond.median)).join(' / ');
    }),
    String(r.flags.length),
  ]);
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
};

/**
 * One record's sections: throughput, where the time goes, what was not
 * measured, the flags, the per-layer and per-kernel tables, and the history of
 * its machine; `h` is the level of their headings.
 */
const recordSections = (latest: BenchRecord, machineRecords: readonly BenchRecord[], all: readonly BenchRecord[], h: string, charts?: { layerTime: string; layers: string }): string[] => {
  const out: string[] = [
    `${h} Throughput`,
    '',
    throughputTable(latest, 'md'),
    '',
    ...[...towerLines(latest), ...peakLines(latest)].flatMap((l) => [l, '']),
    `${h} Where the time goes`,
    '',
    ...dominantLines(latest).map((l) => `- ${l}`),
    '',
  ];
  if (charts) out.push(`![share of time per layer](${charts.layerTime})`, '', `![GFLOP/s per layer](${charts.layers})`, '');
  const na = notAvailableLines(latest);
  if (na.length) out.push(`${h} Not measured`, '', ...na.map((l) => `- ${l}`), '');
  out.push(`${h} Changes against the previous record of this machine`, '');
  out.push(latest.flags.length ? flagLines(latest).map((l) => `- ${l}`).join('\n') : '- No figure dropped more than 10%.', '');
  out.push(`${h} Per layer`, '');
  for (const s of latest.subjects.filter((x) => x.available && x.profile)) {
    out.push(`${h}# ${s.label}, batch ${s.profile!.batch}`, '', `${s.detail ?? ''}`, '', layerTable(latest, s, 'md'), '');
  }
  out.push(`${h} Per kernel`, '');
  for (const s of latest.subjects.filter((x) => x.available && x.profile)) {
    out.push(`<details><summary>${esc(s.label)}, batch ${s.profile!.batch} (sync cost ${num(s.profile!.syncMs?.median)} ms subtracted)</summary>`, '', kernelTable(latest, s, 'md'), '', '</details>', '');
  }
  out.push(`${h} History`, '', `All records of this machine (${machineRecords.length} of ${all.length} in the file), oldest first; \`+\` marks a tree with uncommitted changes.`, '', historyTable(machineRecords), '');
  return out;
};

/** A browser and machine's records, oldest first, and the latest of them. */
export interface BrowserGroup {
  readonly latest: BenchRecord;
  readonly records: readonly BenchRecord[];
}

/**
 * The history as the report shows it: the latest Node record and the records
 * of its machine and mode (the charts, the tables and the docs block), and
 * each browser and machine's records (sections of their own, newest first).
 * A browser record never stands for the Node machine, however recent.
 */
export const splitHistory = (all: readonly BenchRecord[]): { latest?: BenchRecord; mine: BenchRecord[]; browsers: BrowserGroup[] } => {
  const nodeRecords = all.filter((r) => !inBrowser(r));
  const latest = nodeRecords.at(-1);
  const mine = latest ? nodeRecords.filter((r) => r.machine.key === latest.machine.key && r.plan.mode === latest.plan.mode) : [];
  const keys = [...new Set(all.filter(inBrowser).map((r) => r.machine.key))];
  const browsers = keys.map((key) => {
    const records = all.filter((r) => r.machine.key === key);
    return { latest: records.reduce((a, b) => (b.date >= a.date ? b : a)), records };
  }).sort((a, b) => (a.latest.date < b.latest.date ? 1 : a.latest.date > b.latest.date ? -1 : 0));
  return { latest, mine, browsers };
};

const BROWSER_ANCHOR = 'in-the-browser';

const browserSection = (groups: readonly BrowserGroup[], all: readonly BenchRecord[]): string[] => {
  if (groups.length === 0) return [];
  const out: string[] = [
    '## In the browser',
    '',
    'Measured by the page (`npm run web`, Bench) with the sequence a Node worker runs (bench/measure.ts), on gpu.js over the browser\'s WebGL2 and TensorFlow.js webgl in the same tab, and taken into the history with `npm run bench -- --report --import FILE`. The latest record of each browser and machine, newest first; ratios are to TF.js webgl in the same browser.',
    '',
  ];
  for (const { latest: r, records } of groups) {
    const p = r.plan;
    out.push(
      `### ${r.machine.node} on ${r.machine.os}, ${r.machine.gl ?? 'no WebGL2'}`,
      '',
      `Recorded ${r.date.slice(0, 16).replace('T', ' ')} UTC${r.url ? ` at ${r.url}` : ''}, commit \`${r.commit}\`${r.dirty ? ' (with uncommitted changes)' : ''}, by \`${r.command}\`; the run took ${Math.round(r.wallSeconds)} s. Seed ${p.seed}; each figure the median of ${p.minRepeats}–${p.repeats} timed runs after ${p.warmup} warm-up run(s), at most ${num(p.budgetMs / 1000)} s of timed runs per measurement; caps ${num(p.capMs / 1000)} s a pass or step, ${num(p.kernelCapMs / 1000)} s a kernel.`,
      '',
      `Machine: ${machineLine(r)}.`,
      '',
      ...recordSections(r, records, all, '####'),
    );
  }
  return out;
};

export const resultsMarkdown = (all: readonly BenchRecord[], chartDir: string, resultsFile: string): string => {
  const rel = (f: string) => path.relative(path.dirname(resultsFile), path.join(chartDir, f)).split(path.sep).join('/');
  const { latest, mine: machineRecords, browsers } = splitHistory(all);
  if (!latest) {
    return ['# Benchmark results', '', 'Generated by `npm run bench -- --report` from the history file, which holds no record of a Node run yet; the browser\'s records follow.', '', ...browserSection(browsers, all)].join('\n');
  }
  const out: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`npm run bench -- --report\` from the history file; the latest record is from \`${latest.command}\` on ${latest.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${latest.commit}\`${latest.dirty ? ' (with uncommitted changes)' : ''}.`,
    '',
    `Machine: ${machineLine(latest)}.`,
    '',
    `Method: AlexNet at ${latest.model.input.slice(1).join('x')} (${num(latest.model.macsPerImage / 1e9)} G multiply-adds per image, counted from the shapes as \`alexnet info\` does), seed ${latest.plan.seed} for weights, inputs, labels and dropout masks. Each figure is the median of timed runs (${latest.plan.minRepeats}–${latest.plan.repeats}, fewer when a run is long) after ${latest.plan.warmup} untimed warm-up run(s), with the min–max spread beside it. A ratio is how many times as fast as the peer (above 1: faster). Throughput runs have no extra sync points; the per-layer profile times each kernel to a one-column readback and subtracts the readback's own cost. Training: forward, loss, backward and the paper's momentum/weight-decay update (learning rate ${latest.plan.sgd.lr}, so the loss stays finite; the work does not depend on it).${latest.subjects.some((x) => x.id === 'pytorch' && x.available) ? ' PyTorch runs in a python process of its own (bench/peers/torch_bench.py) on the same weights and batches, and times each pass or step there, so the pipe to it is not in its figures; it has no per-layer profile.' : ''}`,
    '',
    `![throughput per commit](${rel('throughput.svg')})`,
    '',
    ...recordSections(latest, machineRecords, all, '##', { layerTime: rel('layer-time.svg'), layers: rel('layers.svg') }),
    ...browserSection(browsers, all),
  ];
  return out.join('\n');
};

/** A marked block of the docs page: `intro`, the record's throughput table and notes, then `outro`. */
const throughputBlock = (r: BenchRecord, start: string, end: string, intro: string, outro: string): string => [
  start,
  intro,
  '',
  throughputTable(r, 'md'),
  '',
  ...towerLines(r).map((l) => `- ${l}`),
  ...peakLines(r).map((l) => `- ${l}`),
  ...dominantLines(r).map((l) => `- ${l}`),
  ...notAvailableLines(r).map((l) => `- ${l}`),
  '',
  outro,
  end,
].join('\n');

/** The README block: the latest throughput table and the command that made it. */
export const readmeBlock = (latest: BenchRecord, resultsRel: string): string => throughputBlock(latest, README_START, README_END,
  `Latest full run on this machine (${latest.machine.cpu}, ${latest.machine.cores} cores, ${latest.machine.gl ? latest.machine.gl.replace(/^.* on /, '') : 'no GL'}; Node ${latest.machine.node}), ${latest.date.slice(0, 10)}, commit \`${latest.commit}\`, made by \`${latest.command}\`; medians with min–max, ratios = times as fast as the peer:`,
  `Per-layer and per-kernel tables, charts and the history: [${resultsRel}](${resultsRel}).`);

/** The browser block of the docs page: the latest browser record's throughput table. */
export const browserBlock = (latest: BenchRecord, resultsRel: string): string => throughputBlock(latest, BROWSER_START, BROWSER_END,
  `Latest run in a browser (${machineLine(latest)}), ${latest.date.slice(0, 10)}, commit \`${latest.commit}\`, measured by the page (\`npm run web\`, Bench) and taken in with \`npm run bench -- --report --import FILE\`; medians with min–max, ratios = times as fast as TF.js webgl in the same browser:`,
  `Per-layer tables and each browser's history: [${resultsRel}](${resultsRel}#${BROWSER_ANCHOR}).`);

/** `text` with the block between `start` and `end` replaced; null when the markers are not there. */
const replaceBlock = (text: string, start: string, end: string, block: string): string | null => {
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  return a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + end.length) : null;
};

export interface ReportOptions {
  readonly history: string;
  readonly reportDir?: string;
  readonly results?: string;
  /** The page to update between the bench markers; by default docs/performance.md when writing the default outputs. */
  readonly readme?: string | null;
}

/** Writes the charts and the Markdown; returns the files written. */
export const writeReport = (o: ReportOptions): string[] => {
  const all = readHistory(o.history);
  if (all.length === 0) throw new Error(`${o.history} has no records yet; run \`npm run bench\` first`);
  const { latest, mine, browsers } = splitHistory(all);
  const chartDir = path.resolve(o.reportDir ?? path.join(HERE, 'report'));
  const results = path.resolve(o.results ?? path.join(HERE, 'RESULTS.md'));
  const written: string[] = [];
  const put = (f: string, text: string) => { writeFileSync(f, text); written.push(f); };
  // The charts follow the Node machine; a history of browser records alone has only the Markdown.
  if (latest) {
    mkdirSync(chartDir, { recursive: true });
    put(path.join(chartDir, 'throughput.svg'), throughputChart(mine));
    put(path.join(chartDir, 'layers.svg'), layersChart(latest));
    put(path.join(chartDir, 'layer-time.svg'), layerTimeChart(latest));
  }
  mkdirSync(path.dirname(results), { recursive: true });
  put(results, resultsMarkdown(all, chartDir, results));
  const defaults = o.reportDir === undefined && o.results === undefined;
  const mode = (latest ?? browsers[0].latest).plan.mode;
  // The docs page takes both blocks; README's performance section the Node run's table only.
  const docs = o.readme === undefined
    ? (defaults && mode === 'full' ? [{ file: path.join(ROOT, 'docs', 'performance.md'), browser: true }, { file: path.join(ROOT, 'README.md'), browser: false }] : [])
    : o.readme ? [{ file: o.readme, browser: true }] : [];
  for (const { file: readme, browser } of docs.filter((d) => existsSync(d.file))) {
    const resultsRel = path.relative(path.dirname(readme), results).split(path.sep).join('/');
    let text = readFileSync(readme, 'utf8');
    let touched = false;
    const swap = (next: string | null) => { if (next !== null) { text = next; touched = true; } };
    if (latest) swap(replaceBlock(text, README_START, README_END, readmeBlock(latest, resultsRel)));
    if (browser && browsers.length > 0) {
      // The browser block goes after the Node block the first time, and stays where it is found after that.
      const block = browserBlock(browsers[0].latest, resultsRel);
      const at = text.indexOf(README_END);
      swap(replaceBlock(text, BROWSER_START, BROWSER_END, block)
        ?? (at >= 0 ? `${text.slice(0, at + README_END.length)}\n\n${block}${text.slice(at + README_END.length)}` : null));
    }
    if (touched) put(readme, text);
  }
  return written;
};
