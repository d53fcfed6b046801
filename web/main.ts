/**
 * The page: controls, progress and results. Every long task runs in the
 * worker (worker.ts), so the page stays responsive; this module only sends
 * requests and draws what comes back. The last result of each task is also
 * kept on `window.alexnetPage` for scripts that drive the page (the browser
 * tests, tools/browser.mjs).
 */
import type { TowerPortReply, TowerPortRequest } from './towers.ts';
import { layersChart, layerTimeChart } from '../bench/report.ts';
import type { BenchRecord } from '../bench/record.ts';
import { KERNELS } from '../properties/kit/kernels.ts';
import type { BenchOutcome } from './bench.ts';
import type { ClassifyOutcome, EnvInfo, Reply, Request, VerifyOutcome } from './protocol.ts';

declare const __ALEXNET_COMMIT__: string;
declare const __ALEXNET_BUILT__: string;

type Distribute<U> = U extends unknown ? Omit<U, 'id'> : never;
type Ask = Distribute<Request>;

const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => {
  const el = document.querySelector<T>(sel);
  if (!el) throw new Error(`the page has no ${sel}`);
  return el;
};

const state: { env?: EnvInfo; verify?: VerifyOutcome; bench?: BenchOutcome; classify?: ClassifyOutcome; busy: boolean; errors: string[] } = { busy: false, errors: [] };
(window as unknown as { alexnetPage: typeof state }).alexnetPage = state;

// The worker sees the page's query (?gl=webgl, ?kernels=...) as its own.
const workerUrl = new URL('./worker.js', import.meta.url);
workerUrl.search = location.search;
const worker = new Worker(workerUrl, { type: 'module' });
let nextId = 1;
const pending = new Map<number, { ok(r: unknown): void; bad(e: Error): void; line?(l: string): void; progress?(d: number, t: number, l: string): void }>();
// A tower the worker asks for (web/towers.ts): a worker of its own, joined to the asking worker by a channel.
const towerUrl = new URL('./tower.js', import.meta.url);
const startTower = (ticket: number) => {
  const tower = new Worker(towerUrl, { type: 'module' });
  const { port1, port2 } = new MessageChannel();
  tower.postMessage({ port: port1 }, [port1]);
  worker.postMessage({ type: 'tower-port', ticket, port: port2 } satisfies TowerPortReply, [port2]);
};
worker.onmessage = (e: MessageEvent<Reply | TowerPortRequest>) => {
  if ('type' in e.data && e.data.type === 'tower') { startTower(e.data.ticket); return; }
  const m = e.data as Reply;
  const p = pending.get(m.id);
  if (!p) return;
  if (m.type === 'line') p.line?.(m.line);
  else if (m.type === 'progress') p.progress?.(m.done, m.total, m.label);
  else {
    pending.delete(m.id);
    if (m.type === 'result') p.ok(m.result);
    else p.bad(new Error(m.message));
  }
};
worker.onerror = (e) => {
  const msg = `the page's worker failed: ${e.message || 'it did not load'}`;
  state.errors.push(msg);
  for (const p of pending.values()) p.bad(new Error(msg));
  pending.clear();
};

const ask = <R>(req: Ask, line?: (l: string) => void, progress?: (d: number, t: number, l: string) => void): Promise<R> =>
  new Promise((ok, bad) => {
    const id = nextId++;
    pending.set(id, { ok: ok as (r: unknown) => void, bad, line, progress });
    worker.postMessage({ ...req, id });
  });

// ---- progress: a bar with the step, its rate and the time left ------------------------

const secs = (s: number) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

const progressOf = (sel: string) => {
  const box = $(sel);
  const bar = box.querySelector('progress')!;
  const text = box.querySelector('span')!;
  const t0 = performance.now();
  let last = { done: 0, total: 0, label: 'starting…' };
  const show = () => {
    const { done, total, label } = last;
    const el = (performance.now() - t0) / 1000;
    const rate = done > 0 ? done / el : 0;
    const eta = rate > 0 ? (total - done) / rate : NaN;
    text.textContent = total === 0 ? `${label} (${secs(el)})`
      : `${label} — ${done}/${total}, ${secs(el)} so far${rate > 0 && done < total ? `, ${rate >= 1 ? `${rate.toFixed(1)}/s` : `${secs(1 / rate)} each`}, about ${secs(eta)} left` : ''}`;
  };
  // The clock runs between steps too: a long step shows its time going by.
  const timer = setInterval(show, 1000);
  box.hidden = false;
  bar.removeAttribute('value');
  show();
  return {
    update(done: number, total: number, label: string) {
      last = { done, total, label };
      bar.max = total;
      bar.value = done;
      show();
    },
    done(message: string) {
      clearInterval(timer);
      bar.max = 1;
      bar.value = 1;
      text.textContent = `${message} (${secs((performance.now() - t0) / 1000)})`;
    },
  };
};

const busy = (on: boolean) => {
  state.busy = on;
  for (const b of document.querySelectorAll<HTMLButtonElement>('form button[type="submit"], input[type="file"]')) b.disabled = on;
};

const runExclusive = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
  if (state.busy) return undefined;
  busy(true);
  try {
    return await f();
  } finally {
    busy(false);
  }
};

// ---- the environment ---------------------------------------------------------------

const showEnv = (env: EnvInfo) => {
  const el = $('#env');
  el.dataset.api = env.api;
  el.dataset.adapter = env.webgpu.adapter ?? '';
  if (env.api === 'webgpu') {
    el.dataset.state = env.webgpu.available ? 'ok' : 'bad';
    el.dataset.mode = env.webgpu.available ? 'webgpu' : 'none';
    el.innerHTML = '';
    if (env.webgpu.available) {
      el.append('gpu.js runs on WebGPU: ', Object.assign(document.createElement('code'), { textContent: env.webgpu.adapter ?? '' }),
        ` — each GPU context in a worker of its own, whose reads the verifying worker waits for; ${env.cores} logical cores.`);
    } else {
      el.append(`No WebGPU for gpu.js here: ${env.webgpu.reason}. Verify and bench report a failure; `, Object.assign(document.createElement('a'), { href: '?', textContent: 'run on WebGL' }), ' instead.');
    }
    return;
  }
  el.dataset.state = env.gl ? 'ok' : 'bad';
  el.dataset.mode = env.mode;
  el.dataset.renderer = env.glInfo?.renderer ?? '';
  if (env.gl && env.glInfo) {
    const g = env.glInfo;
    el.innerHTML = '';
    el.append(
      `gpu.js runs on ${env.mode === 'webgl2' ? 'WebGL2' : 'WebGL'}: `, Object.assign(document.createElement('code'), { textContent: g.renderer }),
      ` — ${g.version}; fragment shaders' highp float has ${g.floatPrecisionBits} mantissa bits${g.floatPrecisionBits < 23 ? ' (less than single precision: expect verify to fail)' : ' (single precision)'}; ${env.cores} logical cores.`,
      ...(env.webgpu.available ? [' WebGPU is here too (', Object.assign(document.createElement('code'), { textContent: env.webgpu.adapter ?? '' }), '): ', Object.assign(document.createElement('a'), { href: '?gpu=webgpu', textContent: 'run gpu.js on WebGPU' }), '.'] : []),
    );
  } else {
    const fallback = env.mode === 'none' ? '' : ` gpu.js would fall back to its ${env.mode} mode (not the GPU).`;
    el.textContent = `No WebGL for gpu.js here: ${env.passedOver ?? 'unknown reason'}.${fallback} Verify and bench report a failure. Enable WebGL (or hardware acceleration) in this browser.`;
  }
};

// ---- verify ----------------------------------------------------------------------------

/** The kernel phase's kernels: all, or those of `?kernels=lrn,relu` (as `alexnet verify --kernels`). */
const KERNEL_LIST: readonly string[] = (() => {
  const q = new URLSearchParams(location.search).get('kernels');
  return q ? q.split(',').map((k) => k.trim()).filter(Boolean) : KERNELS;
})();

$('#verify-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = new FormData(e.target as HTMLFormElement);
  void runExclusive(async () => {
    const out = $('#verify-output');
    const verdict = $('#verify-verdict');
    out.hidden = false;
    out.textContent = '';
    verdict.hidden = true;
    const p = progressOf('#verify-progress');
    try {
      const r = await ask<VerifyOutcome>(
        { task: 'verify', network: String(f.get('network')), kernels: f.get('kernels') === 'on' ? KERNEL_LIST : [], scale: Number(f.get('scale')), seed: Number(f.get('seed')), batch: 2 },
        (l) => { out.textContent += `${l}\n`; },
        (d, t, l) => p.update(d, t, l),
      );
      state.verify = r;
      p.done(r.ok ? 'passed' : 'failed');
      verdict.hidden = false;
      verdict.dataset.ok = String(r.ok);
      verdict.dataset.mode = r.mode;
      verdict.dataset.renderer = r.renderer ?? '';
      verdict.textContent = r.error ? `FAIL: ${r.error}` : `${r.ok ? 'PASS' : 'FAIL'} on gpu.js ${r.mode} (${r.renderer ?? 'no renderer'}), ${secs(r.seconds)}`;
    } catch (err) {
      p.done('stopped');
      verdict.hidden = false;
      verdict.dataset.ok = 'false';
      verdict.textContent = `FAIL: ${(err as Error).message}`;
      state.verify = { ok: false, error: (err as Error).message, mode: 'none', renderer: null, text: out.textContent ?? '', seconds: 0, json: null };
    }
  });
});

// ---- bench -----------------------------------------------------------------------------

const download = (name: string, text: string) => {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
};

const benchTable = (b: BenchOutcome): HTMLTableElement => {
  const t = document.createElement('table');
  t.id = 'bench-table';
  const head = ['figure', ...b.columns.map((c) => c.label), ...b.ratios.map((r) => r.label)];
  t.createTHead().insertRow().append(...head.map((h) => Object.assign(document.createElement('th'), { textContent: h })));
  const body = t.createTBody();
  for (const row of b.rows) {
    const tr = body.insertRow();
    tr.insertCell().textContent = row.figure;
    for (const v of row.values) tr.insertCell().textContent = v === null ? '–' : v.toPrecision(3);
    for (const r of row.ratios) {
      const td = tr.insertCell();
      td.textContent = r === null ? '–' : `${r.toFixed(2)}×`;
      if (r !== null) td.className = r >= 1 ? 'ratio-good' : 'ratio-bad';
    }
  }
  return t;
};

let lastRecord: BenchRecord | null = null;
$('#bench-download').addEventListener('click', () => {
  if (lastRecord) download(`bench-browser-${lastRecord.date.slice(0, 19).replace(/[:T]/g, '-')}.json`, `${JSON.stringify(lastRecord)}\n`);
});

$('#bench-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = new FormData(e.target as HTMLFormElement);
  void runExclusive(async () => {
    const log = $('#bench-log');
    const res = $('#bench-result');
    log.hidden = false;
    log.textContent = '';
    res.hidden = true;
    const p = progressOf('#bench-progress');
    try {
      const r = await ask<BenchOutcome>({ task: 'bench', quick: f.get('plan') === 'quick' }, (l) => { log.textContent += `${l}\n`; log.scrollTop = log.scrollHeight; }, (d, t, l) => p.update(d, t, l));
      state.bench = r;
      lastRecord = r.record;
      ($('#bench-download') as HTMLButtonElement).disabled = false;
      p.done('measured');
      res.hidden = false;
      res.innerHTML = '';
      res.append(Object.assign(document.createElement('p'), { textContent: `img/s, medians; ${r.record.machine.node}, ${r.record.machine.gl ?? 'no GL'}; commit ${r.record.commit}${r.record.dirty ? '+' : ''}. Ratios: gpu.js over TensorFlow.js webgl, and two contexts over one.` }), benchTable(r));
      for (const svg of [layerTimeChart(r.record), layersChart(r.record)]) {
        const d = document.createElement('div');
        d.className = 'chart';
        d.innerHTML = svg;
        res.append(d);
      }
    } catch (err) {
      p.done('stopped');
      res.hidden = false;
      res.textContent = `The bench stopped: ${(err as Error).message}`;
      state.errors.push((err as Error).message);
    }
  });
});

// ---- classify ----------------------------------------------------------------------------

let checkpoint: { name: string; bytes: ArrayBuffer } | null = null;

const drawRgba = (canvas: HTMLCanvasElement, width: number, height: number, rgba: Uint8Array, zoom = 1) => {
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${width * zoom}px`;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
};

const showClassify = (r: ClassifyOutcome) => {
  state.classify = r;
  const fig = $('#filters-figure');
  fig.hidden = false;
  drawRgba($('#filters') as HTMLCanvasElement, r.filters.width, r.filters.height, r.filters.rgba, 2);
  fig.querySelector('figcaption')!.textContent = `${r.model}: conv1's kernels, each stretched to the full range; tower 1 above, tower 2 below (the paper's Figure 3).`;
  const table = $('#classify-top') as HTMLTableElement;
  if (!r.top) { table.hidden = true; return; }
  table.hidden = false;
  const body = table.tBodies[0];
  body.innerHTML = '';
  for (const t of r.top) {
    const tr = body.insertRow();
    tr.insertCell().textContent = t.label;
    tr.insertCell().textContent = `${(100 * t.probability).toFixed(2)}%`;
  }
  table.dataset.backend = r.backend;
  if (r.seen) {
    const { side, channels, pixels } = r.seen;
    const rgba = new Uint8Array(side * side * 4);
    for (let i = 0; i < side * side; i++) {
      for (let c = 0; c < 3; c++) rgba[4 * i + c] = pixels[(channels === 3 ? c : 0) * side * side + i];
      rgba[4 * i + 3] = 255;
    }
    const seen = $('#classify-seen') as HTMLCanvasElement;
    seen.hidden = false;
    drawRgba(seen, side, side, rgba, Math.max(1, Math.floor(112 / side)));
  }
};

const classifyNow = (image?: File) => {
  void runExclusive(async () => {
    const err = $('#classify-error');
    err.hidden = true;
    if (!checkpoint) {
      err.hidden = false;
      err.textContent = 'Load a checkpoint first (runs/latest/checkpoint.safetensors after npm start).';
      return;
    }
    const p = progressOf('#classify-progress');
    try {
      const crops = Number(new FormData($('#classify-form') as HTMLFormElement).get('crops')) === 1 ? 1 : 10;
      const img = image ? { name: image.name, type: image.type || 'image/png', bytes: await image.arrayBuffer() } : undefined;
      const r = await ask<ClassifyOutcome>({ task: 'classify', checkpoint, image: img, crops }, undefined, (d, t, l) => p.update(d, t, l));
      p.done(image ? 'classified' : 'checkpoint loaded');
      showClassify(r);
    } catch (e) {
      p.done('failed');
      err.hidden = false;
      err.textContent = (e as Error).message;
      state.errors.push((e as Error).message);
    }
  });
};

$('#checkpoint-file').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  checkpoint = { name: file.name, bytes: await file.arrayBuffer() };
  const image = ($('#image-file') as HTMLInputElement).files?.[0];
  classifyNow(image);
});
$('#image-file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) classifyNow(file);
});
const drop = $('#drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) classifyNow(file);
});

// ---- start -------------------------------------------------------------------------------

$('#build').textContent = `alexnet-ts, commit ${__ALEXNET_COMMIT__}, page built ${__ALEXNET_BUILT__}.`;
void runExclusive(async () => {
  try {
    const env = await ask<EnvInfo>({ task: 'info' });
    state.env = env;
    showEnv(env);
  } catch (e) {
    const el = $('#env');
    el.dataset.state = 'bad';
    el.textContent = `Could not start: ${(e as Error).message}`;
    state.errors.push((e as Error).message);
  }
});
