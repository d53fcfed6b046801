/**
 * ONNX Runtime under the synchronous contract, for `alexnet verify --backend
 * ort-node | ort-wasm`: the adapter (./index.ts, an AsyncBackend) runs in a
 * worker thread of its own, and every call of this `Backend` posts the call
 * there and blocks until ONNX Runtime has answered it. Nothing is computed
 * here: handles are numbers standing for the adapter's handles in that
 * thread, with their shapes; a download brings the values back. The kernels
 * the adapter does not offer are declared here too (`notOffered`), so the kit
 * reports them as such.
 *
 * This is the one-call-at-a-time form of what an asynchronous tower
 * (backends/remote) does for any AsyncBackend; where such a tower exists, the
 * specs can make the adapter's tower from its recipe instead
 * ({ module: backends/ort/index.ts, factory: 'createOrtBackend', options }).
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { Backend, Handle } from '../../core/backend.ts';
import { type Shape, Tensor } from '../../core/tensor.ts';
import type { OrtOptions } from './index.ts';

/** An argument or result on the wire: a handle by number, a tensor by shape and values. */
export type Wired =
  | { readonly $h: number; readonly shape?: Shape }
  | { readonly $t: { readonly shape: Shape; readonly data: Float32Array | Float64Array } }
  | readonly Wired[]
  | { readonly [k: string]: unknown }
  | number | string | boolean | null | undefined | Int32Array;

export interface BlockingData {
  readonly options: OrtOptions;
  readonly counter: Int32Array;
  readonly reply: MessagePort;
}

export interface BlockingCall { readonly method: string; readonly args: readonly Wired[] }
export type BlockingAnswer =
  | { readonly ok: true; readonly value?: Wired; readonly methods?: readonly string[]; readonly name?: string; readonly detail?: string; readonly notOffered?: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly error: string };

export type BlockingOrtBackend = Backend & {
  readonly detail: string;
  readonly notOffered: Readonly<Partial<Record<keyof Backend, string>>>;
  destroy(): void;
};

const ENTRY = new URL('./blocking-entry.mjs', import.meta.url);

/** Starts the adapter in its thread and returns its synchronous face once it is made (or throws why not). */
export const createBlockingOrtBackend = async (options: OrtOptions, timeoutMs = 10 * 60_000): Promise<BlockingOrtBackend> => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const { port1: replies, port2 } = new MessageChannel();
  const data: BlockingData = { options, counter, reply: port2 };
  const worker = new Worker(ENTRY, { workerData: data, transferList: [port2] });
  worker.unref();
  let answered = 0;
  let error: Error | undefined;
  worker.once('error', (e) => { error = e; });
  const until = Date.now() + timeoutMs;
  while (Atomics.load(counter, 0) === 0 && !error && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  const stop = () => { void worker.terminate(); replies.close(); };
  if (error) { stop(); throw error; }
  if (Atomics.load(counter, 0) === 0) { stop(); throw new Error(`ONNX Runtime's thread did not start within ${timeoutMs / 1000} s`); }
  answered = 1;
  const ready = receiveMessageOnPort(replies)?.message as BlockingAnswer | undefined;
  if (!ready?.ok) { stop(); throw new Error(ready ? ready.error : 'ONNX Runtime\'s thread answered with nothing'); }

  const handles = new WeakMap<Handle, number>();
  let self: BlockingOrtBackend;
  const wire = (a: unknown): Wired => {
    if (a instanceof Tensor) return { $t: { shape: a.shape, data: a.data } };
    if (Array.isArray(a)) return a.map(wire);
    if (a && typeof a === 'object' && 'owner' in a && 'shape' in a) {
      const id = handles.get(a as Handle);
      if (id === undefined) throw new Error(`a tensor of ${(a as Handle).owner.name} was handed to ${self.name}; move it with transfer() first`);
      return { $h: id };
    }
    return a as Wired;
  };
  const unwire = (w: Wired): unknown => {
    if (w && typeof w === 'object' && !ArrayBuffer.isView(w)) {
      if (Array.isArray(w)) return w.map(unwire);
      if ('$h' in w) {
        const h: Handle = { shape: (w as { shape: Shape }).shape, owner: self };
        handles.set(h, (w as { $h: number }).$h);
        return h;
      }
      if ('$t' in w) { const t = (w as { $t: { shape: Shape; data: Float32Array } }).$t; return Tensor.trusted(t.shape, t.data); }
      return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, unwire(v as Wired)]));
    }
    return w;
  };
  const call = (method: string, args: readonly unknown[]): unknown => {
    worker.postMessage({ method, args: args.map(wire) } satisfies BlockingCall);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(counter, 0) === answered) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(counter, 0, answered, left) === 'timed-out') throw new Error(`${self.name}: ${method} got no answer within ${timeoutMs / 1000} s`);
    }
    answered++;
    const a = receiveMessageOnPort(replies)?.message as BlockingAnswer | undefined;
    if (!a) throw new Error(`${self.name}: ${method} was answered with nothing`);
    if (!a.ok) throw new Error(a.error);
    return unwire(a.value);
  };
  const methods = Object.fromEntries(ready.methods!.map((m) => [m, (...args: unknown[]) => call(m, args)]));
  self = {
    ...methods,
    name: ready.name!,
    detail: `${ready.detail!}; each call blocks on ONNX Runtime's thread`,
    notOffered: ready.notOffered as BlockingOrtBackend['notOffered'],
    destroy: () => { try { call('destroy', []); } finally { stop(); } },
  } as BlockingOrtBackend;
  return self;
};
