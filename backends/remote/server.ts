/**
 * The tower's side: runs the commands of one caller (protocol.ts) on a real
 * backend, in the order they were issued, holding back a command whose input
 * is still on its way from the other tower. A failed kernel does not stop the
 * tower: its results are marked lost, and the next read answers with the
 * failure, naming the kernel.
 *
 * The backend may be asynchronous (core/backend.ts, `AsyncBackend`): where a
 * method answers with a promise, the tower waits for it before it runs the
 * next command, so every kernel still sees its inputs made and the order of
 * the caller's calls is the order they run in. A synchronous backend never
 * waits here: its commands run as they arrive.
 */
import type { AsyncBackend, AsyncLossResult, Handle, Later } from '../../core/backend.ts';
import { sameShape, shapeString, Tensor } from '../../core/tensor.ts';
import { type Answer, type Command, isRef, type ReadWhat, type Ready, type Recv, unwire, wire } from './protocol.ts';

export interface ServerOutlet {
  answer(seq: number, a: Answer): void;
  /** Posts to the tower at the other end of peer link `link`. */
  peer(link: number, r: Recv): void;
}

/** The scalar facts a backend offers (mode, threads, its GL renderer), for the caller's copy of it. */
export const readyOf = (be: AsyncBackend): Ready => {
  const facts: Record<string, string | number | boolean | null> = {};
  const b = be as unknown as Record<string, unknown>;
  for (const k of ['mode', 'threads', 'detail']) if (['string', 'number', 'boolean'].includes(typeof b[k])) facts[k] = b[k] as string | number | boolean;
  for (const [key, prefix] of [['glInfo', 'gl'], ['adapterInfo', 'adapter']] as const) {
    const info = b[key] as Record<string, unknown> | null | undefined;
    if (info && typeof info === 'object') for (const [k, v] of Object.entries(info)) if (['string', 'number', 'boolean'].includes(typeof v)) facts[`${prefix}.${k}`] = v as string | number | boolean;
  }
  // The tower's process or thread shares the caller's environment except where it was given its own. (A browser's worker has neither.)
  if (typeof process !== 'undefined') {
    facts.pid = process.pid;
    if (process.env.LP_NUM_THREADS) facts.lpThreads = process.env.LP_NUM_THREADS;
  }
  const declined = b.notOffered;
  return { name: be.name, facts, ...(declined && typeof declined === 'object' ? { notOffered: { ...(declined as Record<string, string>) } } : {}) };
};


export class TowerServer {
  private readonly handles = new Map<number, Handle>();
  private readonly numbers = new Map<number, number>();
  /** Handle numbers whose kernel failed (or whose tensor never left the other tower), with why. */
  private readonly lost = new Map<number, string>();
  private readonly queue: Command[] = [];
  private failure: string | null = null;
  /** A command is waiting for the backend's promise; the queue waits behind it. */
  private waiting = false;

  constructor(private readonly be: AsyncBackend, private readonly out: ServerOutlet) {}

  command(c: Command): void {
    this.queue.push(c);
    this.pump();
  }

  /** A tensor from the other tower. */
  received(r: Recv): void {
    if (r.lost !== undefined) this.lost.set(r.as, r.lost);
    else this.queue.unshift({ op: 'upload', id: r.as, tensor: r.tensor, from: 'the other tower' });
    this.pump();
  }

  private pump(): void {
    while (!this.waiting && this.queue.length > 0 && this.inputsHere(this.queue[0])) {
      const pending = this.run(this.queue.shift()!);
      if (pending) {
        this.waiting = true;
        void pending.then(() => {
          this.waiting = false;
          this.pump();
        });
      }
    }
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

  /** Runs `f` and keeps its results under the numbers `out`, or marks them lost with why; waits for them where they come later. */
  private attempt(what: string, out: readonly number[], f: () => Later<(Handle | number)[]>): Promise<void> | undefined {
    const keep = (rs: (Handle | number)[]): void => {
      rs.forEach((r, i) => (typeof r === 'number' ? this.numbers.set(out[i], r) : this.handles.set(out[i], r)));
    };
    const failed = (e: unknown): void => {
      // A kernel whose input was lost fails for the same reason as the kernel that lost it.
      const why = e instanceof LostInput ? e.message : `${this.be.name}: ${what} failed: ${e instanceof Error ? e.message : String(e)}`;
      this.failure ??= why;
      for (const id of out) this.lost.set(id, why);
    };
    try {
      const rs = f();
      if (isThenable(rs)) return Promise.resolve(rs).then(keep, failed);
      keep(rs);
    } catch (e) {
      failed(e);
    }
    return undefined;
  }

  private run(c: Command): Promise<void> | undefined {
    switch (c.op) {
      case 'upload':
        return this.attempt(c.from ? `receiving a tensor from ${c.from}` : 'upload', [c.id], () => then(this.be.upload(unwire(c.tensor)), (h) => [h]));
      case 'call':
        return this.attempt(c.kernel, c.out, () => {
          const fn = (this.be as unknown as Record<string, (...a: unknown[]) => unknown>)[c.kernel];
          if (typeof fn !== 'function') throw new Error(`${this.be.name} has no kernel ${c.kernel}`);
          return then(fn.apply(this.be, c.args.map((a) => this.resolve(a))), (r) => {
            const hs = c.kernel === 'sgdUpdate' ? [(r as { w: Handle }).w, (r as { v: Handle }).v]
              : c.kernel === 'softmaxCrossEntropy' ? [(r as AsyncLossResult).probs, (r as AsyncLossResult).dlogits]
              : [r as Handle];
            hs.forEach((h, i) => {
              if (!sameShape(h.shape, c.shapes[i])) throw new Error(`internal: it returned a result of shape ${shapeString(h.shape)} where the caller's handle has ${shapeString(c.shapes[i])}`);
            });
            return c.kernel === 'softmaxCrossEntropy' ? then((r as AsyncLossResult).loss, (loss) => [...hs, loss]) : hs;
          });
        });
      case 'dispose': {
        const h = this.handles.get(c.id);
        this.handles.delete(c.id);
        this.numbers.delete(c.id);
        this.lost.delete(c.id);
        return h ? this.attempt('dispose', [], () => then(this.be.dispose(h), () => [])) : undefined;
      }
      case 'send': {
        const h = this.handles.get(c.id);
        if (!h) {
          this.out.peer(c.link, { op: 'recv', as: c.as, lost: this.lost.get(c.id) ?? `handle ${c.id} is unknown` });
          return undefined;
        }
        const lost = (e: unknown): void => {
          const why = `${this.be.name}: sending a tensor to the other tower failed: ${e instanceof Error ? e.message : String(e)}`;
          this.failure ??= why;
          this.out.peer(c.link, { op: 'recv', as: c.as, lost: why });
        };
        return settle(() => this.be.download(h), (t) => this.out.peer(c.link, { op: 'recv', as: c.as, tensor: wire(t) }), lost);
      }
      case 'read':
        return settle(() => this.read(c.what), (a) => this.out.answer(c.seq, a), () => {});
      case 'link':
      case 'close':
        return undefined; // handled by the transport
    }
  }

  private read(what: ReadWhat): Later<Answer> {
    const failed = this.failure;
    this.failure = null;
    if (failed !== null) return { ok: false, error: failed, named: true };
    const refused = (e: unknown): Answer => (e instanceof LostInput
      ? { ok: false, error: e.message, named: true }
      : { ok: false, error: `${this.be.name}: ${e instanceof Error ? e.message : String(e)}`, named: true });
    try {
      const answer = (): Later<Answer> => {
        if (what.kind === 'tensor') return then(this.be.download(this.handle(what.id)), (t): Answer => ({ ok: true, tensor: wire(t) }));
        if (what.kind === 'number') {
          const v = this.numbers.get(what.id);
          if (v === undefined) this.handle(what.id); // throws why it is missing
          return { ok: true, value: v };
        }
        if (what.kind === 'liveCount') return then(this.be.liveCount(), (n): Answer => ({ ok: true, value: n }));
        return then(this.be.sync?.(), (): Answer => ({ ok: true }));
      };
      const a = answer();
      return isThenable(a) ? Promise.resolve(a).catch(refused) : a;
    } catch (e) {
      return refused(e);
    }
  }
}

const isThenable = <T>(v: Later<T> | unknown): v is PromiseLike<T> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';

/** `f` of `v`, now when `v` is a value, later when it is a promise. */
const then = <T, R>(v: Later<T> | T, f: (t: T) => Later<R>): Later<R> => (isThenable<T>(v) ? Promise.resolve(v).then(f) : f(v as T));

/** Hands what `f` makes to `ok` (or its failure to `no`), now or when it comes; a promise only where it comes later. */
const settle = <T>(f: () => Later<T>, ok: (t: T) => void, no: (e: unknown) => void): Promise<void> | undefined => {
  try {
    const v = f();
    if (isThenable<T>(v)) return Promise.resolve(v).then(ok, no);
    ok(v);
  } catch (e) {
    no(e);
  }
  return undefined;
};

/** A kernel's input that an earlier kernel failed to make; the message is that kernel's failure. */
class LostInput extends Error {}
