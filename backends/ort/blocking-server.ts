/**
 * The thread behind ./blocking.ts: makes the ONNX Runtime adapter, then answers
 * one call at a time, awaiting each of the adapter's promises before the next
 * call is read. Handles cross as numbers; tensors as shapes and values.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Handle } from '../../core/backend.ts';
import { Tensor } from '../../core/tensor.ts';
import type { BlockingAnswer, BlockingCall, BlockingData, Wired } from './blocking.ts';
import { createOrtBackend, type OrtBackend } from './index.ts';

const d = workerData as BlockingData;
const answer = (a: BlockingAnswer): void => {
  d.reply.postMessage(a);
  Atomics.add(d.counter, 0, 1);
  Atomics.notify(d.counter, 0);
};
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

const main = async () => {
  let be: OrtBackend;
  try {
    be = await createOrtBackend(d.options);
  } catch (e) {
    answer({ ok: false, error: message(e) });
    return;
  }
  const byId = new Map<number, Handle>();
  const ids = new WeakMap<Handle, number>();
  let next = 1;
  const unwire = (w: Wired): unknown => {
    if (w && typeof w === 'object' && !ArrayBuffer.isView(w)) {
      if (Array.isArray(w)) return w.map(unwire);
      if ('$h' in w) {
        const h = byId.get((w as { $h: number }).$h);
        if (!h) throw new Error('a disposed tensor was used');
        return h;
      }
      if ('$t' in w) { const t = (w as { $t: { shape: number[]; data: Float32Array } }).$t; return Tensor.trusted(t.shape, t.data); }
      return w;
    }
    return w;
  };
  const wire = (v: unknown): Wired => {
    if (v instanceof Tensor) return { $t: { shape: v.shape, data: v.data } };
    if (Array.isArray(v)) return v.map(wire);
    if (v && typeof v === 'object' && 'owner' in v && 'shape' in v) {
      const h = v as Handle;
      let id = ids.get(h);
      if (id === undefined) { id = next++; ids.set(h, id); byId.set(id, h); }
      return { $h: id, shape: h.shape };
    }
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wire(x)]));
    return v as Wired;
  };
  const methods = Object.keys(be).filter((k) => typeof (be as unknown as Record<string, unknown>)[k] === 'function' && k !== 'destroy' && k !== 'sessions');
  answer({ ok: true, methods, name: be.name, detail: be.detail, notOffered: be.notOffered });
  // Calls queue on the port; each is answered before the next is taken.
  let queue = Promise.resolve();
  parentPort!.on('message', (c: BlockingCall) => {
    queue = queue.then(async () => {
      try {
        if (c.method === 'destroy') { await be.destroy(); answer({ ok: true }); return; }
        const args = c.args.map(unwire);
        const r = await (be as unknown as Record<string, (...a: unknown[]) => unknown>)[c.method](...args);
        const value = r && typeof r === 'object' && 'probs' in r ? { ...r, loss: await (r as unknown as { loss: unknown }).loss } : r;
        if (c.method === 'dispose') { const id = ids.get(args[0] as Handle); if (id !== undefined) byId.delete(id); }
        answer({ ok: true, value: wire(value) });
      } catch (e) {
        answer({ ok: false, error: message(e) });
      }
    });
  });
};

void main();
