/**
 * The project's own subjects: a placement (one backend running the grouped
 * network, or two running the towers) driven through the real executor for
 * throughput, and kernel by kernel for the profile.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type LayerInfo, type NetSpec, groupsOf, towerSplit } from '../core/alexnet.ts';
import type { Backend, ConvParams, Handle, SgdParams } from '../core/backend.ts';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { type Params, towerRows } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { type Shape, sizeOf, Tensor } from '../core/tensor.ts';
import { createReferenceBackend } from '../reference/index.ts';
import { adapterOfFacts } from '../backends/webgpu/node.ts';
import type { cpuTowers as CpuTowers, gpuTowers as GpuTowers, RemoteBackend, webgpuDevice as WebgpuDevice, webgpuTowers as WebgpuTowers } from '../backends/remote/index.ts';
import type { SubjectId } from './plan.ts';
import type { KernelCase, Syncer } from './profile.ts';

export type Placement = readonly Backend[];

type GpuFactory = (opts?: { mode?: 'auto' | 'headlessgl' | 'webasm' | 'cpu'; name?: string }) => Backend & { readonly mode?: string };

/**
 * A backend module's factory, or why there is none in this tree. The modules
 * are loaded by path at run time, so the suite measures whatever backends the
 * tree has and says which are missing.
 */
const loadFactory = async <F>(module: string, exported: string): Promise<{ create: F } | { reason: string }> => {
  const rel = module.replace(/^\.\.\//, '');
  if (!existsSync(fileURLToPath(new URL(module, import.meta.url)))) return { reason: `${rel} is not in this tree` };
  try {
    const mod = (await import(module)) as Record<string, unknown>;
    if (typeof mod[exported] !== 'function') return { reason: `${rel} does not export ${exported}` };
    return { create: mod[exported] as F };
  } catch (e) {
    return { reason: `${rel} fails to load: ${(e as Error).message.split('\n')[0]}` };
  }
};

/** Builds the backends of a subject; a gpu.js context that came up in another mode than asked is "not available". */
export const makePlacement = async (id: SubjectId): Promise<{ placement: Placement; detail: string } | { reason: string }> => {
  if (id === 'reference') return { placement: [createReferenceBackend()], detail: 'reference backend (float64 sums), one context, grouped convolutions' };
  if (id === 'cpu') {
    const cpu = await loadFactory<(name?: string) => Backend>('../backends/cpu/index.ts', 'createCpuBackend');
    if ('reason' in cpu) return cpu;
    const be = cpu.create('cpu') as Backend & { readonly threads?: number };
    const threads = be.threads ?? 1;
    return { placement: [be], detail: `${be.name} backend (float32, WebAssembly SIMD matrix products, ${threads} thread${threads === 1 ? '' : 's'}: set ALEXNET_CPU_THREADS), one context, grouped convolutions` };
  }
  if (id === 'cpu-2ctx') {
    const remote = await loadFactory<typeof CpuTowers>('../backends/remote/index.ts', 'cpuTowers');
    if ('reason' in remote) return remote;
    try {
      const placement = remote.create();
      return { placement, detail: `${placement.map((b) => `${b.name} (${b.threads} thread${b.threads === 1 ? '' : 's'})`).join(' + ')}, side by side in worker threads, transfers at conv3, fc6, fc7, fc8 straight between them` };
    } catch (e) {
      return { reason: `the cpu towers do not start: ${(e as Error).message.split('\n')[0]}` };
    }
  }
  if (id === 'gpujs-webgpu-1dev' || id === 'gpujs-webgpu-2dev') {
    const two = await loadFactory<typeof WebgpuTowers>('../backends/remote/index.ts', 'webgpuTowers');
    const one = await loadFactory<typeof WebgpuDevice>('../backends/remote/index.ts', 'webgpuDevice');
    if ('reason' in two) return two;
    if ('reason' in one) return one;
    let placement: RemoteBackend[];
    try {
      // One process per device: gpu.js keeps one device per thread, and Dawn's driver is found through the process's environment.
      placement = id === 'gpujs-webgpu-2dev' ? two.create() : [one.create()];
    } catch (e) {
      return { reason: `gpu.js in webgpu mode does not start: ${(e as Error).message.split('\n')[0]}` };
    }
    const adapter = adapterOfFacts(placement[0].facts);
    return {
      placement,
      detail: `${placement.map((b) => b.name).join(' + ')} on ${adapter}, ${placement.length === 2 ? 'a device and a process per tower, side by side, transfers at conv3, fc6, fc7, fc8 straight between them' : 'one device in a process of its own, grouped convolutions'}`,
    };
  }
  const gpu = await loadFactory<GpuFactory>('../backends/gpujs/index.ts', 'createGpuBackend');
  if ('reason' in gpu) return gpu;
  const mode = id === 'gpujs-webasm' ? 'webasm' : 'headlessgl';
  const count = id === 'gpujs-gl-2ctx' ? 2 : 1;
  const placement: (Backend & { readonly mode?: string })[] = [];
  try {
    if (count === 2) {
      const remote = await loadFactory<typeof GpuTowers>('../backends/remote/index.ts', 'gpuTowers');
      if ('reason' in remote) return remote;
      placement.push(...remote.create({ mode }, [`gpu.js ${mode} tower 0`, `gpu.js ${mode} tower 1`]));
    } else {
      placement.push(gpu.create({ mode, name: `gpu.js ${mode} #0` }));
    }
  } catch (e) {
    return { reason: `gpu.js in ${mode} mode does not start: ${(e as Error).message.split('\n')[0]}` };
  }
  const wrong = placement.find((b) => b.mode !== mode);
  if (wrong) return { reason: `asked gpu.js for ${mode}, got ${wrong.mode ?? 'an unknown mode'}${mode === 'headlessgl' && !process.env.DISPLAY ? ' (DISPLAY is not set: run under xvfb-run)' : ''}` };
  const lp = (b: Backend) => (b as RemoteBackend).facts?.lpThreads;
  return {
    placement,
    detail: `${placement.map((b) => `${b.name} (mode ${b.mode})`).join(' + ')}, ${count === 2 ? `side by side, a process per tower (llvmpipe threads: ${lp(placement[0]) ?? 'default'}), transfers at conv3, fc6, fc7, fc8 straight between them` : 'one context, grouped convolutions'}`,
  };
};

// ---- seeded data ---------------------------------------------------------------

export const randomTensor = (shape: Shape, rng: Rng, std = 1): Tensor => {
  const d = new Float32Array(sizeOf(shape));
  for (let i = 0; i < d.length; i++) d[i] = rng.normal(0, std);
  return Tensor.trusted(shape, d);
};

/** A batch of N seeded images [N, C, H, W] and labels. */
export const batchOf = (spec: NetSpec, N: number, seed: number) => {
  const rng = new Rng(seed).derive(`batch ${N}`);
  const x = randomTensor([N, ...spec.input], rng);
  const labels = Int32Array.from({ length: N }, () => rng.int(spec.classes));
  return { x, labels };
};

// ---- throughput through the executor ---------------------------------------------

export const oursNetwork = (spec: NetSpec, params: Params, placement: Placement): Network =>
  orThrow(Network.create(spec, params, [...placement]));

export const trainStepOf = (net: Network, x: Tensor, labels: Int32Array, sgd: SgdParams, rng: Rng) => (): void => {
  const { loss } = net.trainStep(x, labels, sgd, { rng });
  if (!Number.isFinite(loss)) throw new Error(`the training loss became ${loss}; the timed steps would skip the backward pass`);
};

// ---- the profile's kernel cases ----------------------------------------------------

/** A sync is a one-column readback: it cannot finish before the result it reads. */
export const handleSyncer: Syncer<Handle> = {
  sync(hs) {
    for (const h of hs) {
      const be = h.owner;
      const flat = h.shape.length === 1 ? be.reshape(h, [1, h.shape[0]]) : h.shape.length > 2 ? be.reshape(h, [h.shape[0], sizeOf(h.shape.slice(1))]) : h;
      const col = be.slice(flat, 0, 1);
      be.download(col);
      be.dispose(col);
      if (flat !== h) be.dispose(flat);
    }
  },
  dispose(hs) {
    for (const h of new Set(hs)) h.owner.dispose(h);
  },
};

/** Every kernel of a training step, per layer, on a placement; see profile.ts. */
export class OursCases {
  private readonly rng: Rng;
  private readonly held: Handle[] = [];

  constructor(private readonly spec: NetSpec, private readonly rows: readonly LayerInfo[], private readonly placement: Placement, private readonly N: number, seed: number, private readonly backward: boolean, private readonly sgd: SgdParams) {
    this.rng = new Rng(seed).derive('profile');
  }

  private up(be: Backend, shape: Shape, std = 1): Handle {
    const h = be.upload(randomTensor(shape, this.rng, std));
    this.held.push(h);
    return h;
  }

  private keep(...hs: Handle[]): void { this.held.push(...hs); }

  /** Releases what the cases of the last layer held. */
  release(): void {
    for (const h of this.held.splice(0)) h.owner.dispose(h);
  }

  private move(h: Handle, to: Backend): Handle {
    return to.upload(h.owner.download(h));
  }

  /** The channel counts LRN normalises apart on this placement: the towers' halves on one context, everything on a tower's own. */
  private lrnSizes(x: Handle, towers: number): number[] {
    return towers === 2 ? [x.shape[1]] : towerSplit(x.shape[1]).filter((n) => n > 0);
  }

  /** The forward's parts of x (slices made once, as the executor makes them in the forward pass). */
  private lrnParts(be: Backend, x: Handle, towers: number): { parts: Handle[]; sizes: number[] } {
    const sizes = this.lrnSizes(x, towers);
    if (sizes.length === 1) return { parts: [x], sizes };
    let c0 = 0;
    const parts = sizes.map((n) => { const p = be.slice(x, c0, n); c0 += n; return p; });
    this.keep(...parts);
    return { parts, sizes };
  }

  private lrnForward(be: Backend, x: Handle, towers: number): Handle {
    const sizes = this.lrnSizes(x, towers);
    if (sizes.length === 1) return be.lrn(x, this.spec.lrn);
    const temp: Handle[] = [];
    let c0 = 0;
    const parts = sizes.map((n) => { const p = be.slice(x, c0, n); c0 += n; temp.push(p); return p; });
    const ys = parts.map((p) => be.lrn(p, this.spec.lrn));
    const y = be.concat(ys);
    for (const h of [...temp, ...ys]) be.dispose(h);
    return y;
  }

  private lrnBackward(be: Backend, f: { parts: Handle[]; sizes: number[] }, dy: Handle): Handle {
    if (f.sizes.length === 1) return be.lrnGrad(f.parts[0], dy, this.spec.lrn);
    const temp: Handle[] = [];
    let c0 = 0;
    const gs = f.parts.map((p, i) => {
      const d = be.slice(dy, c0, f.sizes[i]);
      c0 += f.sizes[i];
      const g = be.lrnGrad(p, d, this.spec.lrn);
      temp.push(d, g);
      return g;
    });
    const dx = be.concat(gs);
    for (const h of temp) be.dispose(h);
    return dx;
  }

  /** The cases of one layer, with its inputs made and held until `release()`. */
  layer(i: number): KernelCase<Handle>[] {
    const r = this.rows[i];
    const l = r.spec;
    const T = this.placement.length;
    const N = this.N;
    const cases: KernelCase<Handle>[] = [];
    const add = (kernel: string, pass: KernelCase<Handle>['pass'], macs: number, run: () => Handle[]) => cases.push({ layer: r.name, kernel, pass, macs, run });
    const bes = this.placement;
    const inUnits = r.inShape[0];
    const spatial = r.inShape.slice(1);
    const exchange = l.link === 'both' && T === 2;
    const units = bes.map((_, t) => towerRows(l.out, T, t).count);
    const cin = bes.map((_, t) => (T === 1 || l.link !== 'own' ? inUnits : towerRows(inUnits, 2, t).count));

    // Inputs as the layer sees them, and (for an exchange) the towers' halves they are joined from.
    let xs: Handle[];
    if (exchange) {
      const halves = bes.map((be, t) => this.up(be, [N, towerRows(inUnits, 2, t).count, ...spatial]));
      const moved = () => bes.map((be, t) => this.move(halves[1 - t], be));
      add('transfer', 'forward', 0, moved);
      const m = moved();
      this.keep(...m);
      add('concat', 'forward', 0, () => bes.map((be, t) => be.concat(t === 0 ? [halves[0], m[0]] : [m[1], halves[1]])));
      xs = bes.map((be, t) => be.concat(t === 0 ? [halves[0], m[0]] : [m[1], halves[1]]));
      this.keep(...xs);
    } else {
      xs = bes.map((be, t) => this.up(be, [N, cin[t], ...spatial]));
    }

    let ws: Handle[];
    const bs = bes.map((be, t) => this.up(be, [units[t]], 0.01));
    let pre: Handle[];
    let cp: ConvParams | undefined;
    let flat: Handle[] = xs;
    if (l.kind === 'conv') {
      cp = { stride: l.stride, pad: l.pad, groups: T === 1 ? groupsOf(l) : 1 };
      const g = cp.groups;
      ws = bes.map((be, t) => this.up(be, [units[t], cin[t] / g, l.kernel, l.kernel], 0.01));
      add('conv2d', 'forward', r.macs * N, () => bes.map((be, t) => be.conv2d(xs[t], ws[t], bs[t], cp!)));
      pre = bes.map((be, t) => be.conv2d(xs[t], ws[t], bs[t], cp!));
    } else {
      const K = sizeOf(r.inShape);
      if (xs[0].shape.length > 2) {
        add('reshape', 'forward', 0, () => bes.map((be, t) => be.reshape(xs[t], [N, K])));
        flat = bes.map((be, t) => be.reshape(xs[t], [N, K]));
        this.keep(...flat);
      }
      ws = bes.map((be, t) => this.up(be, [units[t], K], 0.01));
      add('linear', 'forward', r.macs * N, () => bes.map((be, t) => be.linear(flat[t], ws[t], bs[t])));
      pre = bes.map((be, t) => be.linear(flat[t], ws[t], bs[t]));
    }
    this.keep(...pre);

    // What follows the learned part, each step's input kept for its gradient.
    const after: { kind: string; x: Handle[]; y: Handle[]; mask?: Handle[] }[] = [];
    let h = pre;
    for (const a of l.after) {
      const x = h;
      let y: Handle[];
      if (a === 'relu') {
        add('relu', 'forward', 0, () => bes.map((be, t) => be.relu(x[t])));
        y = bes.map((be, t) => be.relu(x[t]));
      } else if (a === 'lrn') {
        // One context normalises each tower's half apart (core/layers.ts lrnGrouped), two contexts their own maps.
        add('lrn', 'forward', 0, () => bes.map((be, t) => this.lrnForward(be, x[t], T)));
        y = bes.map((be, t) => this.lrnForward(be, x[t], T));
      } else if (a === 'pool') {
        add('maxPool', 'forward', 0, () => bes.map((be, t) => be.maxPool(x[t], this.spec.pool)));
        y = bes.map((be, t) => be.maxPool(x[t], this.spec.pool));
      } else {
        if (!this.backward) continue; // dropout is on in training only
        const keep = 1 - this.spec.dropout;
        const mask = bes.map((be, t) => {
          const m = new Float32Array(N * units[t]);
          for (let k = 0; k < m.length; k++) m[k] = this.rng.bernoulli(keep) ? 1 / keep : 0;
          const hm = be.upload(Tensor.trusted([N, units[t]], m));
          this.keep(hm);
          return hm;
        });
        add('dropout', 'forward', 0, () => bes.map((be, t) => be.dropout(x[t], mask[t])));
        y = bes.map((be, t) => be.dropout(x[t], mask[t]));
        after.push({ kind: a, x, y, mask });
        this.keep(...y);
        h = y;
        continue;
      }
      this.keep(...y);
      after.push({ kind: a, x, y });
      h = y;
    }

    const last = i === this.rows.length - 1;
    if (last && T === 2) {
      add('transfer logits', 'forward', 0, () => [this.move(h[1], bes[0])]);
      const moved = this.move(h[1], bes[0]);
      this.keep(moved);
      add('concat logits', 'forward', 0, () => [bes[0].concat([h[0], moved])]);
    }
    if (last && this.backward) {
      const logits = T === 2 ? bes[0].concat([h[0], this.move(h[1], bes[0])]) : h[0];
      this.keep(logits);
      const labels = Int32Array.from({ length: N }, () => this.rng.int(this.spec.classes));
      add('softmaxCrossEntropy', 'forward', 0, () => {
        const r = bes[0].softmaxCrossEntropy(logits, labels);
        return [r.probs, r.dlogits];
      });
    }

    if (!this.backward) return cases;

    // Backward, in the order the executor runs it.
    if (last && T === 2) {
      const dl = this.up(bes[0], [N, l.out]);
      add('slice logits', 'backward', 0, () => [bes[0].slice(dl, 0, units[0]), bes[0].slice(dl, units[0], units[1])]);
      const part = bes[0].slice(dl, units[0], units[1]);
      this.keep(part);
      add('transfer logits', 'backward', 0, () => [this.move(part, bes[1])]);
    }
    for (let k = after.length - 1; k >= 0; k--) {
      const s = after[k];
      const dy = bes.map((be, t) => this.up(be, s.y[t].shape));
      if (s.kind === 'relu') add('reluGrad', 'backward', 0, () => bes.map((be, t) => be.reluGrad(s.y[t], dy[t])));
      else if (s.kind === 'lrn') {
        const parts = bes.map((be, t) => this.lrnParts(be, s.x[t], T));
        add('lrnGrad', 'backward', 0, () => bes.map((be, t) => this.lrnBackward(be, parts[t], dy[t])));
      }
      else if (s.kind === 'pool') add('maxPoolGrad', 'backward', 0, () => bes.map((be, t) => be.maxPoolGrad(s.x[t], dy[t], this.spec.pool)));
      else add('dropoutGrad', 'backward', 0, () => bes.map((be, t) => be.dropoutGrad(dy[t], s.mask![t])));
    }
    const dpre = bes.map((be, t) => this.up(be, pre[t].shape));
    const first = i === 0;
    if (l.kind === 'conv') {
      if (!first) add('conv2dGradInput', 'backward', r.macs * N, () => bes.map((be, t) => be.conv2dGradInput(dpre[t], ws[t], xs[t].shape, cp!)));
      add('conv2dGradFilter', 'backward', r.macs * N, () => bes.map((be, t) => be.conv2dGradFilter(xs[t], dpre[t], ws[t].shape, cp!)));
    } else {
      if (!first) add('linearGradInput', 'backward', r.macs * N, () => bes.map((be, t) => be.linearGradInput(dpre[t], ws[t])));
      add('linearGradWeight', 'backward', r.macs * N, () => bes.map((be, t) => be.linearGradWeight(flat[t], dpre[t])));
    }
    add('biasGrad', 'backward', 0, () => bes.map((be, t) => be.biasGrad(dpre[t])));
    if (flat !== xs && !first) {
      const dflat = bes.map((be, t) => this.up(be, flat[t].shape));
      add('reshape', 'backward', 0, () => bes.map((be, t) => be.reshape(dflat[t], xs[t].shape)));
    }
    if (exchange) {
      // Each tower's input gradient covers both towers' maps: each part goes back to where it came from.
      const dIn = bes.map((be, t) => this.up(be, xs[t].shape));
      const c0 = towerRows(inUnits, 2, 0).count;
      const c1 = towerRows(inUnits, 2, 1).count;
      add('slice', 'backward', 0, () => bes.flatMap((be, t) => [be.slice(dIn[t], 0, c0), be.slice(dIn[t], c0, c1)]));
      const mine = bes.map((be, t) => (t === 0 ? be.slice(dIn[0], 0, c0) : be.slice(dIn[1], c0, c1)));
      const theirs = bes.map((be, t) => (t === 0 ? be.slice(dIn[0], c0, c1) : be.slice(dIn[1], 0, c0)));
      this.keep(...mine, ...theirs);
      add('transfer', 'backward', 0, () => bes.map((be, t) => this.move(theirs[1 - t], be)));
      const moved = bes.map((be, t) => this.move(theirs[1 - t], be));
      this.keep(...moved);
      add('add', 'backward', 0, () => bes.map((be, t) => be.add(mine[t], moved[t])));
    }

    const gw = bes.map((be, t) => this.up(be, ws[t].shape, 0.01));
    const gb = bes.map((be, t) => this.up(be, [units[t]], 0.01));
    const vw = bes.map((be, t) => this.up(be, ws[t].shape, 0.001));
    const vb = bes.map((be, t) => this.up(be, [units[t]], 0.001));
    add('sgdUpdate', 'update', 0, () => bes.flatMap((be, t) => {
      const a = be.sgdUpdate(ws[t], vw[t], gw[t], this.sgd);
      const b = be.sgdUpdate(bs[t], vb[t], gb[t], this.sgd);
      return [a.w, a.v, b.w, b.v];
    }));
    return cases;
  }
}
