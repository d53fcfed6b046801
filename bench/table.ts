/**
 * The tables a run prints and RESULTS.md shows: throughput with a ratio to
 * every peer next to each figure, the per-layer profile, the per-kernel
 * profile, which layer dominates each backend's time, and what dropped.
 *
 * A ratio is "how many times as fast as the peer": images per second over the
 * peer's images per second, GFLOP/s over the peer's GFLOP/s, or the peer's time
 * over ours for kernels without counted multiply-adds. Above 1 is faster.
 * The peers are TensorFlow.js's backends and PyTorch; a peer the run asked for
 * whose library is not installed keeps its throughput column, which says
 * "not installed" instead of ratios. A record compares with the peers it
 * holds, so a browser record's ratios are to TensorFlow.js webgl in the same browser.
 */
import { PEERS, SUBJECTS, type SubjectId } from './plan.ts';
import { dominantLayer, type LayerSummary, summariseLayers } from './profile.ts';
import type { BenchRecord, KernelRow, SubjectResult, Throughput, ThroughputKind } from './record.ts';
import { inBrowser, throughputKey } from './record.ts';

export type Format = 'text' | 'md';

const PEER_SHORT: Record<string, string> = {
  'tfjs-webgl': 'TF.js webgl', 'tfjs-webgpu': 'TF.js webgpu', 'tfjs-wasm': 'TF.js wasm', 'tfjs-cpu': 'TF.js cpu', pytorch: 'PyTorch', 'ort-node': 'ORT node', 'ort-wasm': 'ORT wasm',
  'browser-tfjs-webgl': 'TF.js webgl', 'browser-tfjs-webgpu': 'TF.js webgpu',
};
const peerName = (id: string): string => PEER_SHORT[id] ?? id;

/** Three significant figures without exponents. */
export const num = (v: number | null | undefined): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  const digits = Math.max(0, 2 - Math.floor(Math.log10(a)));
  return v.toFixed(Math.min(digits, 6));
};

export const ratio = (ours: number | null | undefined, peer: number | null | undefined): string =>
  ours && peer && Number.isFinite(ours) && Number.isFinite(peer) && ours > 0 && peer > 0 ? `${num(ours / peer)}×` : '-';

const secs = (ms: number): string => (ms >= 1000 ? `${num(ms / 1000)} s` : `${num(ms)} ms`);

/** Renders rows as an aligned text table or a Markdown table; `right` marks right-aligned columns. */
export const render = (header: string[], rows: string[][], right: boolean[], format: Format): string => {
  if (format === 'md') {
    const esc = (c: string) => c.replace(/\|/g, '\\|');
    return [
      `| ${header.map(esc).join(' | ')} |`,
      `|${right.map((r) => (r ? '---:' : '---')).join('|')}|`,
      ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    ].join('\n');
  }
  const all = [header, ...rows];
  const width = header.map((_, c) => Math.max(...all.map((r) => [...(r[c] ?? '')].length)));
  const pad = (s: string, c: number) => (right[c] ? s.padStart(width[c] + s.length - [...s].length) : s.padEnd(width[c] + s.length - [...s].length));
  const line = (r: string[]) => r.map((s, c) => pad(s ?? '', c)).join('  ').trimEnd();
  return [line(header), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
};

const available = (r: BenchRecord) => r.subjects.filter((s) => s.available);
const peersIn = (r: BenchRecord) => PEERS.filter((p) => available(r).some((s) => s.id === p));
/** A peer the run asked for whose library is not on this machine (e.g. PyTorch): its column stays, saying so. */
const notInstalled = (s: SubjectResult) => !s.available && /\bnot installed\b/.test(s.reason ?? '');
const missingPeersIn = (r: BenchRecord) => PEERS.filter((p) => r.subjects.some((s) => s.id === p && notInstalled(s)));
const order = (s: SubjectResult) => SUBJECTS.findIndex((d) => d.id === s.id);

const figureKeys = (r: BenchRecord): string[] => {
  const keys = new Map<string, [number, number]>();
  for (const s of available(r)) for (const t of s.throughput) keys.set(throughputKey(t.kind, t.batch), [t.kind === 'inference' ? 0 : 1, t.batch]);
  return [...keys].sort((a, b) => a[1][0] - b[1][0] || a[1][1] - b[1][1]).map(([k]) => k);
};

const throughputOf = (s: SubjectResult | undefined, key: string): Throughput | undefined =>
  s?.throughput.find((t) => throughputKey(t.kind, t.batch) === key);

/**
 * The whole network's rate: images per second times its floating-point
 * operations per image, two per multiply-add of the forward pass, and three
 * times that for a training step (the forward's products, and the input and
 * weight gradients' products of the same size).
 */
export const networkGflops = (r: BenchRecord, kind: ThroughputKind, imagesPerSecond: number): number =>
  (imagesPerSecond * 2 * r.model.macsPerImage * (kind === 'training' ? 3 : 1)) / 1e9;

/** The yardstick line: a float32 matrix product as fast as a subject's library makes it on this machine, in this run. */
export const peakLines = (r: BenchRecord): string[] => r.subjects.filter((s) => s.available && s.peak).map((s) =>
  `The machine's float32 matrix product in this run: ${num(s.peak!.gflops)} GFLOP/s (${s.peak!.what}); the GFLOP/s column is the whole network's rate (2 flops per multiply-add, training 3 times the forward's), to be read against it.`);

/** Each placement of two towers side by side and the one context it is held against. */
export const TOWER_PAIRS: readonly (readonly [SubjectId, SubjectId])[] = [
  ['gpujs-gl-2ctx', 'gpujs-gl-1ctx'],
  ['cpu-2ctx', 'cpu'],
  ['browser-gpujs-2ctx', 'browser-gpujs-1ctx'],
  ['gpujs-webgpu-2dev', 'gpujs-webgpu-1dev'],
  ['browser-gpujs-webgpu-2dev', 'browser-gpujs-webgpu-1dev'],
];

/**
 * What two contexts cost or gain against one, figure by figure, in this run:
 * "gpu.js headlessgl: two contexts side by side against one: inference b1
 * 1.17×, ... (at least as fast on 3 of 4)".
 */
export const towerLines = (r: BenchRecord): string[] => TOWER_PAIRS.flatMap(([two, one]) => {
  const [a, b] = [two, one].map((id) => r.subjects.find((s) => s.id === id && s.available));
  if (!a || !b) return [];
  const pairs = figureKeys(r).flatMap((key) => {
    const [ta, tb] = [throughputOf(a, key), throughputOf(b, key)];
    return ta && tb ? [{ key, x: ta.imagesPerSecond.median / tb.imagesPerSecond.median }] : [];
  });
  if (pairs.length === 0) return [];
  const held = pairs.filter((p) => p.x >= 1).length;
  const worst = pairs.reduce((m, p) => (p.x < m.x ? p : m));
  return [`Two contexts against one, ${a.label} against ${b.label}: ${pairs.map((p) => `${p.key} ${num(p.x)}×`).join(', ')}; at least as fast on ${held} of ${pairs.length}${worst.x < 1 ? `, two contexts cost ${num(100 * (1 - worst.x))}% at most (${worst.key})` : ''}.`];
});

export const throughputTable = (r: BenchRecord, format: Format): string => {
  const missing = missingPeersIn(r);
  const peers = PEERS.filter((p) => peersIn(r).includes(p) || missing.includes(p));
  const header = ['figure', 'backend, placement', 'img/s', 'min–max', 'per batch', 'GFLOP/s', ...peers.map((p) => `vs ${peerName(p)}`)];
  const rows: string[][] = [];
  for (const key of figureKeys(r)) {
    for (const s of [...available(r)].sort((a, b) => order(a) - order(b))) {
      const t = throughputOf(s, key);
      if (!t) continue;
      rows.push([
        key, s.label, num(t.imagesPerSecond.median), `${num(t.imagesPerSecond.min)}–${num(t.imagesPerSecond.max)}`, secs(t.msPerBatch.median), num(networkGflops(r, t.kind, t.imagesPerSecond.median)),
        ...peers.map((p) => (p === s.id ? '·' : missing.includes(p) ? 'not installed' : ratio(t.imagesPerSecond.median, throughputOf(r.subjects.find((x) => x.id === p), key)?.imagesPerSecond.median))),
      ]);
    }
  }
  return render(header, rows, header.map((_, c) => c >= 2), format);
};

const profileOf = (r: BenchRecord, id: string, batch: number) => {
  const s = r.subjects.find((x) => x.id === id && x.available);
  return s?.profile && s.profile.batch === batch ? s.profile : undefined;
};

export const layerTable = (r: BenchRecord, s: SubjectResult, format: Format): string => {
  const p = s.profile!;
  const peers = peersIn(r).filter((id) => id !== s.id && profileOf(r, id, p.batch));
  const peerLayers = new Map(peers.map((id) => [id, new Map(summariseLayers(profileOf(r, id, p.batch)!).map((l) => [l.layer, l]))]));
  const layers = summariseLayers(p);
  const total = layers.reduce((a, l) => a + l.totalMs, 0);
  const backward = p.kernels.some((k) => k.pass === 'backward');
  const short = (id: string) => peerName(id).replace('TF.js ', '');
  const header = [
    'layer', 'fwd ms', 'fwd GFLOP/s', ...peers.map((id) => `vs ${short(id)}`),
    ...(backward ? ['bwd ms', 'update ms', 'total ms', 'share', 'train GFLOP/s', ...peers.map((id) => `vs ${short(id)}`)] : ['share']),
    'top kernel',
  ];
  const peerOf = (id: SubjectId, l: LayerSummary) => peerLayers.get(id)!.get(l.layer);
  const mark = (l: LayerSummary, v: string) => (l.incomplete ? `>${v}` : v);
  const rows = layers.map((l) => [
    l.layer, num(l.forwardMs), num(l.forwardGflops), ...peers.map((id) => ratio(l.forwardGflops, peerOf(id, l)?.forwardGflops)),
    ...(backward
      ? [num(l.backwardMs), num(l.updateMs), mark(l, num(l.totalMs)), `${num((100 * l.totalMs) / total)}%`, l.incomplete ? '-' : num(l.trainGflops),
        ...peers.map((id) => (l.incomplete || peerOf(id, l)?.incomplete ? '-' : ratio(l.trainGflops, peerOf(id, l)?.trainGflops)))]
      : [`${num((100 * l.totalMs) / total)}%`]),
    l.topKernel,
  ]);
  return render(header, rows, header.map((_, c) => c > 0 && c < header.length - 1), format);
};

/**
 * The peer's time over ours for one kernel. When one side ran once over the
 * kernel cap, its single run is a lower bound and so is (or bounds) the ratio.
 */
const kernelRatio = (ours: KernelRow, peer: KernelRow | undefined): string => {
  if (!peer) return '-';
  if (ours.ms && peer.ms) return ratio(peer.ms.median, ours.ms.median);
  if (ours.ms && peer.overCapMs && ours.ms.median > 0) return `>${num(peer.overCapMs / ours.ms.median)}×`;
  if (ours.overCapMs && peer.ms && peer.ms.median > 0) return `<${num(peer.ms.median / ours.overCapMs)}×`;
  return '-';
};

export const kernelTable = (r: BenchRecord, s: SubjectResult, format: Format): string => {
  const p = s.profile!;
  const peers = peersIn(r).filter((id) => id !== s.id && profileOf(r, id, p.batch));
  const find = (id: string, k: KernelRow) => profileOf(r, id, p.batch)!.kernels.find((x) => x.layer === k.layer && x.kernel === k.kernel && x.pass === k.pass);
  const header = ['layer', 'kernel', 'pass', 'ms', 'min–max', 'GFLOP/s', ...peers.map((id) => `vs ${peerName(id)}`)];
  const rows = p.kernels.map((k) => [
    k.layer, k.kernel, k.pass,
    k.ms ? num(k.ms.median) : `>${num(k.overCapMs!)} (1 run)`,
    k.ms ? `${num(k.ms.min)}–${num(k.ms.max)}` : 'over cap',
    num(k.gflops),
    ...peers.map((id) => kernelRatio(k, find(id, k))),
  ]);
  return render(header, rows, header.map((_, c) => c >= 3), format);
};

export const dominantLines = (r: BenchRecord): string[] =>
  [...available(r)].sort((a, b) => order(a) - order(b)).flatMap((s) => {
    if (!s.profile) return [];
    const d = dominantLayer(s.profile);
    if (!d) return [];
    const what = s.profile.kernels.some((k) => k.pass === 'backward') ? 'a training step\'s kernels' : 'the forward kernels';
    return [`${s.label}: ${d.layer} takes ${num(100 * d.share)}% of ${what} at batch ${s.profile.batch} (most of it ${d.kernel})`];
  });

export const notAvailableLines = (r: BenchRecord): string[] => [
  ...r.subjects.filter((s) => !s.available).map((s) => `${s.label}: not available: ${s.reason}`),
  ...r.subjects.flatMap((s) => s.skipped.map((k) => `${s.label}: ${k.what} not measured: ${k.reason}`)),
];

export const flagLines = (r: BenchRecord): string[] =>
  r.flags.map((f) => `DROP ${num(100 * f.drop)}%: ${f.subject} ${f.figure} ${num(f.previous)} -> ${num(f.current)} (against ${f.against.date.slice(0, 16).replace('T', ' ')} ${f.against.commit})`);

export const machineLine = (r: BenchRecord): string => {
  const m = r.machine;
  if (inBrowser(r)) return `${m.node} on ${m.os}; ${m.cores} logical cores${m.memoryGiB !== null ? `, ${m.memoryGiB} GiB (as the browser reports it)` : ''}; WebGL2: ${m.gl ?? `none (${m.glNote})`}`;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}; GL: ${m.gl ?? `none (${m.glNote})`}${m.load ? `; load ${m.load.start} -> ${m.load.end}` : ''}`;
};

/** The machine in a few words, for a column of the history. */
export const machineName = (r: BenchRecord): string => (inBrowser(r) ? `${r.machine.node}, ${r.machine.cores} cores` : `${r.machine.cpu} x${r.machine.cores}`);

/** Everything a run prints after measuring. */
export const summaryText = (r: BenchRecord, kernels: boolean): string => {
  const out: string[] = [];
  out.push(`AlexNet ${r.model.input.slice(1).join('x')}, ${num(r.model.macsPerImage / 1e9)} G multiply-adds per image; ${r.plan.mode} run, seed ${r.plan.seed}, commit ${r.commit}${r.dirty ? ' (with uncommitted changes)' : ''}`);
  out.push(machineLine(r));
  out.push(`each figure: median of timed runs after ${r.plan.warmup} warm-up run(s); min–max beside it; ratios: times as fast as the peer`);
  out.push('', 'Throughput', r.subjects.some((s) => s.available && s.throughput.length > 0) ? throughputTable(r, 'text') : '(no subject measured any throughput; see below)');
  for (const s of [...available(r)].sort((a, b) => order(a) - order(b))) {
    if (!s.profile) continue;
    out.push('', `Per layer: ${s.label}, batch ${s.profile.batch} (each kernel timed to a sync; the sync's own ${num(s.profile.syncMs?.median)} ms subtracted)`);
    out.push(layerTable(r, s, 'text'));
    if (kernels) out.push('', `Per kernel: ${s.label}, batch ${s.profile.batch}`, kernelTable(r, s, 'text'));
  }
  const dom = dominantLines(r);
  if (dom.length) out.push('', 'Where the time goes', ...dom.map((l) => `  ${l}`));
  const na = notAvailableLines(r);
  if (na.length) out.push('', 'Not measured', ...na.map((l) => `  ${l}`));
  out.push('', `Time per subject: ${r.subjects.map((s) => `${s.id} ${Math.round(s.wallSeconds)} s`).join(', ')}`);
  out.push('', r.flags.length ? `Dropped more than 10% against the previous ${r.plan.mode} record of this machine:` : 'No figure dropped more than 10% against the previous record of this machine.');
  out.push(...flagLines(r).map((l) => `  ${l}`));
  return out.join('\n');
};
