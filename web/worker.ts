/**
 * The page's worker: every long task runs here, off the page's thread, on
 * gpu.js contexts made on OffscreenCanvas (WebGL2 where the browser has it).
 * The tasks are the CLI's, from the same modules: verify is
 * properties/kit/session.ts, classify is core/classify.ts, the bench is
 * bench/measure.ts with the page's subjects (bench.ts).
 */
import { availability, createGpuBackend } from '../backends/gpujs/index.ts';
import type { Backend } from '../core/backend.ts';
import { adapterInfoOf, describeAdapter } from '../backends/webgpu/node.ts';
import { modelByName, type NetSpec } from '../core/alexnet.ts';
import { decodeCheckpoint } from '../core/checkpoint.ts';
import { classify, imageSideOf } from '../core/classify.ts';
import { orThrow } from '../core/errors.ts';
import { filterPixels } from '../core/filters.ts';
import { Network } from '../core/net.ts';
import { weightName } from '../core/params.ts';
import { KERNELS } from '../properties/kit/kernels.ts';
import { toJson } from '../properties/kit/report.ts';
import { verifySession } from '../properties/kit/session.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { runBench } from './bench.ts';
import { adapterOfFacts, type Channel, describeGl, glBackend, pause, requestedGl, requestedGpu } from './gpu.ts';
import { decodeImage } from './image.ts';
import { pageTower, takeTowerPort } from './towers.ts';
import type { BenchRequest, ClassifyOutcome, ClassifyRequest, EnvInfo, Reply, Request, VerifyOutcome, VerifyRequest } from './protocol.ts';

declare const __ALEXNET_COMMIT__: string;
declare const __ALEXNET_DIRTY__: boolean;

const scope = globalThis as unknown as {
  postMessage(m: Reply, transfer?: unknown[]): void;
  onmessage: ((e: { data: Request }) => void) | null;
  navigator: { userAgent: string; hardwareConcurrency: number };
};

const channel = (id: number): Channel => ({
  line: (line) => scope.postMessage({ id, type: 'line', line }),
  progress: (done, total, label) => scope.postMessage({ id, type: 'progress', done, total, label }),
});

/** Whether this browser's WebGPU gives an adapter, and which. */
const webgpuHere = async (): Promise<EnvInfo['webgpu']> => {
  const gpu = (scope.navigator as { gpu?: GPU }).gpu;
  if (!gpu) return { available: false, reason: 'this browser has no navigator.gpu (Chromium needs --enable-unsafe-webgpu where WebGPU is not on by default)', adapter: null };
  const a = await gpu.requestAdapter();
  if (!a) return { available: false, reason: 'navigator.gpu gave no adapter', adapter: null };
  return { available: true, reason: null, adapter: describeAdapter(adapterInfoOf(a)) };
};

const info = async (): Promise<EnvInfo> => {
  const webgpu = await webgpuHere();
  const probe = glBackend('gpu.js probe');
  const env = {
    webgl2: availability('webgl2'), webgl: availability('webgl'),
    userAgent: scope.navigator.userAgent, cores: scope.navigator.hardwareConcurrency ?? 1,
    commit: __ALEXNET_COMMIT__, dirty: __ALEXNET_DIRTY__, inWorker: true, api: requestedGpu(), webgpu,
  };
  if ('reason' in probe) {
    let mode = 'none';
    let passedOver = probe.reason;
    if (requestedGl() !== 'auto') return { ...env, mode: 'none', gl: false, passedOver, glInfo: null };
    try {
      const b = createGpuBackend({ name: 'gpu.js fallback probe' });
      mode = b.mode;
      passedOver = b.passedOver ?? passedOver;
      b.destroy();
    } catch { /* no mode at all: the reason stands */ }
    return { ...env, mode, gl: false, passedOver, glInfo: null };
  }
  const r = { ...env, mode: probe.mode, gl: true, passedOver: probe.passedOver, glInfo: probe.glInfo };
  probe.destroy();
  return r;
};

/** The GPU contexts verify, classify and the bench run on: gpu.js on WebGL, or on WebGPU (?gpu=webgpu), each in a tower of its own. */
interface Context { readonly backend: Backend; readonly mode: string; readonly renderer: string | null; readonly detail: string; close(): void }

const gpuContext = async (name: string): Promise<Context | { reason: string }> => {
  if (requestedGpu() === 'webgpu') {
    try {
      const t = await pageTower('gpu:webgpu', name);
      const adapter = adapterOfFacts(t.facts);
      return { backend: t, mode: 'webgpu', renderer: adapter, detail: `${t.name} (gpu.js webgpu on ${adapter}, in a worker of its own)`, close: () => t.close() };
    } catch (e) {
      return { reason: (e as Error).message };
    }
  }
  const b = glBackend(name);
  if ('reason' in b) return b;
  return { backend: b, mode: b.mode, renderer: b.glInfo?.renderer ?? null, detail: describeGl(b), close: () => b.destroy() };
};

const verify = async (req: VerifyRequest, ch: Channel): Promise<VerifyOutcome> => {
  const made: Context[] = [];
  const t0 = performance.now();
  const lines: string[] = [];
  const print = (l: string) => { lines.push(l); ch.line(l); };
  const spec: NetSpec | null = req.network === 'none' ? null : orThrow(modelByName(req.network));
  try {
    const towers = spec ? 2 : 1;
    for (let t = 0; t < towers; t++) {
      const b = await gpuContext(`gpu.js tower ${t}`);
      if ('reason' in b) {
        print(`verdict: FAIL (${b.reason})`);
        return { ok: false, error: b.reason, mode: 'none', renderer: null, text: lines.join('\n'), seconds: 0, json: null };
      }
      made.push(b);
    }
    const spec0 = `gpu:${made[0].mode}`;
    const subjects = made.map((b) => ({ spec: spec0, backend: b.backend, detail: b.detail }));
    const reference = createReferenceBackend();
    const unknown = req.kernels.filter((k) => !(KERNELS as readonly string[]).includes(k));
    if (unknown.length) throw new Error(`not kernels of the contract: ${unknown.join(', ')}; the kernels are ${KERNELS.join(', ')}`);
    const kernels = KERNELS.filter((k) => req.kernels.includes(k));
    let done = 0;
    const total = kernels.length + (spec ? 2 : 0);
    ch.progress(0, total, kernels.length ? `kernel ${KERNELS[0]}` : 'network');
    const result = await verifySession({
      subjects, oracle: { spec: 'reference', backend: reference, detail: 'reference backend (float64 sums)' },
      oracleTower: async () => createReferenceBackend(), against: ['reference'],
      kernels, seed: req.seed, scale: req.scale, network: spec, batch: req.batch, init: 'scaled', train: true,
      print: (l) => {
        print(l);
        if (/^ {2}[AB] ran in /.test(l)) ch.progress(++done, total, l.startsWith('  B') ? `network ${spec?.name}: the reference placement` : 'comparing');
      },
      progress: (_line, r) => {
        done++;
        ch.progress(done, total, `${r.kernel} ${r.verdict}; ${done < kernels.length ? `kernel ${kernels[done]}` : spec ? `network ${spec.name}: the gpu.js placement` : 'done'}`);
      },
      pause,
    });
    return { ok: result.ok, error: null, mode: made[0].mode, renderer: made[0].renderer, text: lines.join('\n'), seconds: (performance.now() - t0) / 1000, json: toJson(result) };
  } finally {
    for (const b of made) b.close();
  }
};

const classifyTask = async (req: ClassifyRequest, ch: Channel): Promise<ClassifyOutcome> => {
  ch.progress(0, 3, 'reading the checkpoint (checking its SHA-256)');
  await pause();
  const ck = orThrow(decodeCheckpoint(new Uint8Array(req.checkpoint.bytes), req.checkpoint.name));
  const w1 = ck.params.get(weightName(ck.spec.layers[0].name))!;
  const filters = filterPixels(w1, { zoom: 4, columns: 8 });
  if (!req.image) return { model: ck.spec.name, classes: ck.classNames, backend: '', top: null, filters, seen: null };
  ch.progress(1, 3, 'decoding the image');
  const side = imageSideOf(ck);
  const channels = ck.prep.channels as 1 | 3;
  const pixels = await decodeImage(req.image.bytes, req.image.type, side, channels, req.image.name);
  ch.progress(2, 3, `${ck.spec.name} on gpu.js: ${req.crops} crop${req.crops === 1 ? '' : 's'}`);
  await pause();
  const b = glBackend('gpu.js classify');
  if ('reason' in b) throw new Error(b.reason);
  try {
    const net = orThrow(Network.create(ck.spec, ck.params, [b]));
    const top = classify(net, ck, pixels, { top: 5, crops: req.crops, name: req.image.name });
    net.dispose();
    ch.progress(3, 3, 'done');
    return { model: ck.spec.name, classes: ck.classNames, backend: describeGl(b), top, filters, seen: { side, channels, pixels } };
  } finally {
    b.destroy();
  }
};

scope.onmessage = (e) => {
  if (takeTowerPort(e.data)) return;
  const req = e.data;
  const ch = channel(req.id);
  const run = async (): Promise<unknown> => {
    switch (req.task) {
      case 'info': return info();
      case 'verify': return verify(req, ch);
      case 'classify': return classifyTask(req, ch);
      case 'bench': return runBench(req as BenchRequest, ch);
    }
  };
  run().then(
    (result) => scope.postMessage({ id: req.id, type: 'result', result }),
    (err: unknown) => scope.postMessage({ id: req.id, type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
};
