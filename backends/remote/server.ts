/**
 * The tower's side: runs the commands of one caller (protocol.ts) on a real
 * backend, in the order they were issued, holding back a command whose input
 * is still on its way from the other tower. A failed kernel does not stop the
 * tower: its results are marked lost, and the next read answers with the
 * failure, naming the kernel.
 */
import type { Backend, Handle, LossResult } from '../../core/backend.ts';
import { sameShape, shapeString, Tensor } from '../../core/tensor.ts';
import { type Answer, type Command, isRef, type ReadWhat, type Ready, type Recv, type WireTensor } from './protocol.ts';

export interface ServerOutlet {
  answer(seq: number, a: Answer): void;
  /** Posts to the tower at the other end of peer link `link`. */
  peer(link: number, r: Recv): void;
}

/** The scalar facts a backend offers (mode, threads, its GL renderer), for the caller's copy of it. */
export const readyOf = (be: Backend): Ready => {
  const facts: Record<string, string | number | boolean | null> = {};
  const b = be as unknown as Record<string, unknown>;
  for (const k of ['mode', 'threads']) if (['string', 'number', 'boolean'].includes(typeof b[k])) facts[k] = b[k] as string | number | boolean;
  const gl = b.glInfo as Record<string, unknown> | null | undefined;
  if (gl && typeof gl === 'object') for (const [k, v] of Object.entries(gl)) if (['string', 'number', 'boolean'].includes(typeof v)) facts[`gl.${k}`] = v as string | number | boolean;
  // The tower's process or thread shares the caller's environment except where it was given its own.
  facts.pid = process.pid;
  if (process.env.LP_NUM_THREADS) facts.lpThreads = process.env.LP_NUM_THREADS;
  return { name: be.name, facts };
};

export const wire = (t: Tensor): WireTensor => ({ shape: t.shape, data: t.data });
export const unwire = (w: WireTensor): Tensor => Tensor.trusted(w.shape, w.data);

export class TowerServer {
  private readonly handles = new Map<number, Handle>();
  private readonly numbers = new Map<number, number>();
  /** Handle numbers whose kernel failed (or whose tensor never left the other tower), with why. */
  private readonly lost = new Map<number, string>();
  private readonly queue: Command[] = [];
  private failure: string | null = null;

  constructor(private readonly be: Backend, private readonly out: ServerOutlet) {}

  command(c: Command): void {
    this.queue.push(c);
    this.pump();
  }

  /** A tensor from the other tower. */
  received(r: Recv): void {
    if (r.lost !== undefined) this.lost.set(r.as, r.lost);
    else { const t = r.tensor; this.attempt('receiving a tensor from the other tower', [r.as], () => [this.be.upload(unwire(t))]); }
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inputsHere(this.queue[0])) this.run(this.queue.shift()!);
  }

  /** True unless the command needs a handle that is neither here nor lost (so it is coming from the other tower). */
  private inputsHere(c: Command): boolean {
    const here = (id: number) => this.handles.has(id) || this.numbers.has(id) || this.lost.has(id);
    if (c.op === 'call') return c.args.every((a) => (Array.isArray(a) ? a.every((x) => !isRef(x) || here(x.$h)) : !isRef(a) || here(a.$h)));
    if (c.op === 'send' || c.op === 'dispose') return here(c.id);
    if (c.op === 'read' && (c.what.kind === 'tensor' || c.what.kind === 'number')) return here(c.what.id);
    return true;
  }

  private handle(id: number): Handle {
    const h = this.handles.get(id);
    if (h) return h;
    const why = this.lost.get(id);
    if (why !== undefined) throw new LostInput(why);
    throw new Error(`internal: handle ${id} is unknown`);
  }

  private resolve(a: unknown): unknown {
    if (Array.isArray(a)) return a.map((x) => this.resolve(x));
    return isRef(a) ? this.handle(a.$h) : a;
  }

  private attempt(what: string, out: readonly number[], f: () => (Handle | number)[]): void {
    try {
      const rs = f();
      rs.forEach((r, i) => (typeof r === 'number' ? this.numbers.set(out[i], r) : this.handles.set(out[i], r)));
    } catch (e) {
      // A kernel whose input was lost fails for the same reason as the kernel that lost it.
      const why = e instanceof LostInput ? e.message : `${this.be.name}: ${what} failed: ${e instanceof Error ? e.message : String(e)}`;
      this.failure ??= why;
      for (const id of out) this.lost.set(id, why);
    }
  }

  private run(c: Command): void {
    switch (c.op) {
      case 'upload':
        return this.attempt('upload', [c.id], () => [this.be.upload(unwire(c.tensor))]);
      case 'call':
        return this.attempt(c.kernel, c.out, () => {
          const fn = (this.be as unknown as Record<string, (...a: unknown[]) => unknown>)[c.kernel];
          if (typeof fn !== 'function') throw new Error(`${this.be.name} has no kernel ${c.kernel}`);
          const r = fn.apply(this.be, c.args.map((a) => this.resolve(a)));
          const hs = c.kernel === 'sgdUpdate' ? [(r as { w: Handle }).w, (r as { v: Handle }).v]
            : c.kernel === 'softmaxCrossEntropy' ? [(r as LossResult).probs, (r as LossResult).dlogits]
            : [r as Handle];
          hs.forEach((h, i) => {
            if (!sameShape(h.shape, c.shapes[i])) throw new Error(`internal: it returned a result of shape ${shapeString(h.shape)} where the caller's handle has ${shapeString(c.shapes[i])}`);
          });
          return c.kernel === 'softmaxCrossEntropy' ? [...hs, (r as LossResult).loss] : hs;
        });
      case 'dispose': {
        const h = this.handles.get(c.id);
        this.handles.delete(c.id);
        this.numbers.delete(c.id);
        this.lost.delete(c.id);
        if (h) this.attempt('dispose', [], () => { this.be.dispose(h); return []; });
        return;
      }
      case 'send': {
        const h = this.handles.get(c.id);
        if (!h) return this.out.peer(c.link, { op: 'recv', as: c.as, lost: this.lost.get(c.id) ?? `handle ${c.id} is unknown` });
        try {
          this.out.peer(c.link, { op: 'recv', as: c.as, tensor: wire(this.be.download(h)) });
        } catch (e) {
          const why = `${this.be.name}: sending a tensor to the other tower failed: ${e instanceof Error ? e.message : String(e)}`;
          this.failure ??= why;
          this.out.peer(c.link, { op: 'recv', as: c.as, lost: why });
        }
        return;
      }
      case 'read':
        return this.out.answer(c.seq, this.read(c.what));
      case 'link':
      case 'close':
        return; // handled by the transport
    }
  }

  private read(what: ReadWhat): Answer {
    const failed = this.failure;
    this.failure = null;
    if (failed !== null) return { ok: false, error: failed, named: true };
    try {
      if (what.kind === 'tensor') return { ok: true, tensor: wire(this.be.download(this.handle(what.id))) };
      if (what.kind === 'number') {
        const v = this.numbers.get(what.id);
        if (v === undefined) this.handle(what.id); // throws why it is missing
        return { ok: true, value: v };
      }
      if (what.kind === 'liveCount') return { ok: true, value: this.be.liveCount() };
      return { ok: true };
    } catch (e) {
      if (e instanceof LostInput) return { ok: false, error: e.message, named: true };
      return { ok: false, error: `${this.be.name}: ${e instanceof Error ? e.message : String(e)}`, named: true };
    }
  }
}

/** A kernel's input that an earlier kernel failed to make; the message is that kernel's failure. */
class LostInput extends Error {}
