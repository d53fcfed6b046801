/**
 * The page's bench: the full 227x227 network on gpu.js (one context, and two
 * contexts, one per tower) and on TensorFlow.js webgl, and the same on
 * WebGPU (gpu.js on one device and on two, each in a worker of its own, and
 * TensorFlow.js webgpu, its reads awaited), in this browser,
 * measured by the same code as `npm run bench` (bench/measure.ts, with the
 * drivers of bench/drivers.ts) under the page's plan (bench/plan.ts BROWSER),
 * and returned as a record in the bench history's format, which
 * `npm run bench -- --report --import FILE` takes beside Node's records.
 */
import type { GpuBackend } from '../backends/gpujs/index.ts';
import { browserRecord } from '../bench/browser-record.ts';
import { placementDriver, tfjsDriver } from '../bench/drivers.ts';
import { type MakeDriver, measureSubject } from '../bench/measure.ts';
import { setupTfjs } from '../bench/peers/tfjs.ts';
import { BROWSER, BROWSER_QUICK, subjectById } from '../bench/plan.ts';
import { type BenchRecord, type SubjectResult, throughputKey, validateRecord } from '../bench/record.ts';
import { alexnet, describe } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { initParams } from '../core/params.ts';
import type { BenchRequest } from './protocol.ts';
import type { RemoteBackend } from '../backends/remote/backend.ts';
import { adapterOfFacts, type Channel, describeGl, glBackend, pause } from './gpu.ts';
import { pageTower } from './towers.ts';

declare const __ALEXNET_COMMIT__: string;
declare const __ALEXNET_DIRTY__: boolean;

/** What the page shows: the record, and its throughput as a table with the ratios. */
export interface BenchOutcome {
  readonly record: BenchRecord;
  readonly columns: readonly { readonly id: string; readonly label: string }[];
  readonly ratios: readonly { readonly label: string }[];
  readonly rows: readonly { readonly figure: string; readonly values: readonly (number | null)[]; readonly ratios: readonly (number | null)[] }[];
}

const ONE = 'browser-gpujs-1ctx', TWO = 'browser-gpujs-2ctx', TF = 'browser-tfjs-webgl';
const WG1 = 'browser-gpujs-webgpu-1dev', WG2 = 'browser-gpujs-webgpu-2dev', TFWG = 'browser-tfjs-webgpu';

type Brand = { brand: string; version: string };
const nav = globalThis as unknown as {
  navigator: {
    userAgent: string; hardwareConcurrency?: number; deviceMemory?: number; platform?: string;
    userAgentData?: { brands?: Brand[]; getHighEntropyValues?(hints: string[]): Promise<{ fullVersionList?: Brand[] }> };
  };
  location: { href: string };
};

/** The browser and its full version (Chromium reduces the version in its user agent string to 156.0.0.0). */
const browserName = async (): Promise<string> => {
  const n = nav.navigator;
  const full = /(?:HeadlessChrome|Chrome|Chromium)\/([\d.]+)/.exec(n.userAgent)?.[1];
  let brands = n.userAgentData?.brands;
  try {
    brands = (await n.userAgentData?.getHighEntropyValues?.(['fullVersionList']))?.fullVersionList ?? brands;
  } catch { /* the low-entropy brands stand */ }
  const brand = brands?.find((b) => /Chromium|Google Chrome|Microsoft Edge/.test(b.brand));
  if (brand) return `${brand.brand} ${brand.version.split('.').length > 1 && !/\.0\.0\.0$/.test(brand.version) ? brand.version : full ?? brand.version}${/Headless/.test(n.userAgent) ? ' (headless)' : ''}`;
  const ff = /Firefox\/([\d.]+)/.exec(n.userAgent);
  if (ff) return `Firefox ${ff[1]}`;
  const sf = /Version\/([\d.]+).*Safari/.exec(n.userAgent);
  if (sf) return `Safari ${sf[1]}`;
  return full ? `Chromium ${full}` : n.userAgent;
};

export const runBench = async (req: BenchRequest, ch: Channel): Promise<BenchOutcome> => {
  const plan = req.quick ? BROWSER_QUICK : BROWSER;
  const ids = (req.subjects ?? plan.subjects).filter((id) => plan.subjects.includes(id as never));
  const spec = alexnet();
  const rows = orThrow(describe(spec));
  const date = new Date().toISOString();
  const t0 = performance.now();
  const subjects: SubjectResult[] = [];
  let renderer: string | null = null;
  let glNote: string | undefined;
  for (const [i, id] of ids.entries()) {
    const def = subjectById(id)!;
    const made: GpuBackend[] = [];
    const towers: RemoteBackend[] = [];
    ch.progress(i, ids.length, `${def.label}: starting`);
    const makeDriver: MakeDriver = async () => {
      const params = initParams(spec, plan.seed);
      if (id === TF || id === TFWG) {
        const setup = await setupTfjs(id === TF ? 'webgl' : 'webgpu');
        return tfjsDriver(spec, rows, plan, setup.detail, params, id === TF ? 'sync' : 'awaited');
      }
      if (id === WG1 || id === WG2) {
        try {
          for (let t = 0; t < (id === WG2 ? 2 : 1); t++) towers.push(await pageTower('gpu:webgpu', `gpu.js webgpu #${t}`));
        } catch (e) {
          return { reason: (e as Error).message };
        }
        const detail = `${towers.map((b) => b.name).join(' + ')} on ${adapterOfFacts(towers[0].facts)}, ${towers.length === 2 ? 'a device and a worker per tower, transfers at conv3, fc6, fc7, fc8 between them' : 'one device in a worker of its own, grouped convolutions'}`;
        return placementDriver(spec, rows, plan, towers, detail, params);
      }
      for (let t = 0; t < (id === TWO ? 2 : 1); t++) {
        const b = glBackend(`gpu.js #${t}`);
        if ('reason' in b) { glNote = b.reason; return { reason: b.reason }; }
        made.push(b);
      }
      renderer ??= made[0].glInfo?.renderer ?? null;
      const detail = `${made.map(describeGl).join(' + ')}, ${made.length === 2 ? 'one context per tower, transfers at conv3, fc6, fc7, fc8' : 'one context, grouped convolutions'}`;
      return placementDriver(spec, rows, plan, made, detail, params);
    };
    try {
      const r = await measureSubject(def, plan, makeDriver, {
        log: (l) => { ch.line(`[${id}] ${l}`); ch.progress(i, ids.length, `${def.label}: ${l.length > 90 ? `${l.slice(0, 90)}…` : l}`); },
        partial: () => undefined,
        yield: pause,
      });
      subjects.push(r);
    } finally {
      for (const b of made) b.destroy();
      for (const b of towers) b.close();
    }
  }
  ch.progress(ids.length, ids.length, 'done');
  const record = browserRecord({
    date, commit: __ALEXNET_COMMIT__, dirty: __ALEXNET_DIRTY__, plan, subjects, wallSeconds: (performance.now() - t0) / 1000, url: nav.location.href,
    machine: {
      userAgent: nav.navigator.userAgent, browser: await browserName(), cores: nav.navigator.hardwareConcurrency ?? 1,
      memoryGiB: nav.navigator.deviceMemory ?? null, os: nav.navigator.platform ?? 'unknown', gl: renderer,
      ...(renderer === null ? { glNote: glNote ?? 'gpu.js did not start on WebGL in this browser' } : {}),
    },
  });
  const bad = validateRecord(record);
  if (bad.length) throw new Error(`the page made an invalid bench record: ${bad.join('; ')}`);
  return { record, ...tableOf(record) };
};

/** img/s per figure and subject, with gpu.js over TensorFlow.js webgl and two contexts over one. */
export const tableOf = (r: BenchRecord): Omit<BenchOutcome, 'record'> => {
  const figures = [...new Set(r.subjects.flatMap((s) => s.throughput.map((t) => throughputKey(t.kind, t.batch))))];
  const ips = (id: string, key: string) => r.subjects.find((s) => s.id === id)?.throughput.find((t) => throughputKey(t.kind, t.batch) === key)?.imagesPerSecond.median ?? null;
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);
  const columns = r.subjects.map((s) => ({ id: s.id, label: s.available ? s.label : `${s.label} (not available: ${s.reason})` }));
  return {
    columns,
    ratios: [
      { label: '1 context / TF.js webgl' }, { label: '2 contexts / TF.js webgl' }, { label: '2 contexts / 1 context' },
      { label: 'WebGPU 1 device / TF.js webgpu' }, { label: 'WebGPU 2 devices / 1 device' }, { label: 'WebGPU 1 device / WebGL 1 context' },
    ],
    rows: figures.map((f) => ({
      figure: f,
      values: r.subjects.map((s) => ips(s.id, f)),
      ratios: [
        ratio(ips(ONE, f), ips(TF, f)), ratio(ips(TWO, f), ips(TF, f)), ratio(ips(TWO, f), ips(ONE, f)),
        ratio(ips(WG1, f), ips(TFWG, f)), ratio(ips(WG2, f), ips(WG1, f)), ratio(ips(WG1, f), ips(ONE, f)),
      ],
    })),
  };
};
