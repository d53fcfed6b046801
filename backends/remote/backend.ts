/**
 * A backend whose kernels run in a tower elsewhere: the caller's side of a
 * tower, in Node (./client.ts: a worker thread or a process) and in a browser
 * (web/towers.ts: a worker). To the caller it is an ordinary `Backend`; a
 * placement of two of them runs the towers side by side through the
 * unchanged executor (core/net.ts).
 *
 * A kernel call returns at once with a handle of the right shape (./shapes.ts)
 * and the tower computes it in the order called; only what the caller reads
 * (`download`, a loss, `liveCount`, `sync`) waits for the tower. A tensor
 * moved between two such towers goes from one to the other on a port of
 * their own (`transferTo`), without passing through the caller or stopping it.
 *
 * A kernel that fails in the tower is reported by the next read, with the
 * kernel's name and the tower's; a tower whose process ends is reported by the
 * next read as such, and every read after it. How commands reach the tower
 * and answers come back is a `TowerTransport`.
 */
// Types only: in a browser the ports are the DOM's, with the same postMessage and close.
import type { MessagePort } from 'node:worker_threads';
import type { Backend, ConvParams, Handle, LossResult, LrnParams, PoolParams, SgdParams } from '../../core/backend.ts';
import { own } from '../../core/backend.ts';
import { type Shape, sizeOf, Tensor } from '../../core/tensor.ts';
import { type Answer, type Command, type ReadWhat, type Ready, unwire, wire } from './protocol.ts';
import { RESULT_SHAPES } from './shapes.ts';

/** Carries a tower's commands and answers (see protocol.ts). */
export interface TowerTransport {
  /** Posts a command (ports and buffers in `transfer` move with it). */
  post(c: Command, transfer?: (MessagePort | ArrayBuffer)[]): void;
  /** Blocks until the next answer is in, and returns it; or the answer `late()` makes when none comes in `deadlineMs`. */
  next(deadlineMs: number, late: () => string): { seq: number; answer: Answer };
  /** Ends the tower (its thread, worker or process). */
  close(): void;
}

/** A channel of two ports between towers (the global MessageChannel, in Node and in browsers alike). */
const channel = (): { port1: MessagePort; port2: MessagePort } => new MessageChannel() as unknown as { port1: MessagePort; port2: MessagePort };

/** A read that takes longer than this is taken for a lost tower. */
const DEADLINE_MS = 30 * 60 * 1000;
/** A tower that has not built its backend by then is taken for a broken one. */
const START_DEADLINE_MS = 3 * 60 * 1000;

class RemoteHandle implements Handle {
  disposed = false;
  /** For the probabilities of a loss: the number of the loss, disposed with them. */
  loss?: number;
  constructor(readonly owner: RemoteBackend, readonly shape: Shape, readonly id: number) {}
}

let nextLink = 1;

export class RemoteBackend implements Backend {
  readonly name: string;
  /** The tower's scalar facts: its backend's mode, thread count, GL renderer ('gl.renderer'), ... */
  readonly facts: Ready['facts'];
  /** The kernels the tower's backend declares it does not offer, with why; the kit reports them so. */
  readonly notOffered?: Ready['notOffered'];
  private seq = 0;
  private nextId = 1;
  private closed = false;
  private readonly links = new Map<RemoteBackend, number>();

  /**
   * Waits for the tower to build its backend. `where` says where it runs
   * ("a worker thread", ...), `label` names it in a failure to start.
   */
  constructor(private readonly transport: TowerTransport, where: string, label: string, name?: string) {
    const ready = this.answer(0, START_DEADLINE_MS, () => `the tower did not start its backend in ${START_DEADLINE_MS / 1000} s`);
    if (!ready.ok) {
      this.close();
      throw new Error(`${name ?? label}: the backend could not start in ${where}: ${ready.error}`);
    }
    this.name = name ?? ready.ready!.name;
    this.facts = ready.ready!.facts;
    if (ready.ready!.notOffered) this.notOffered = ready.ready!.notOffered;
  }

  /** The tower backend's mode, when it has one (gpu.js: 'headlessgl', ...). */
  get mode(): string | undefined { return this.facts.mode as string | undefined; }
  /** The tower backend's thread count, when it has one (the cpu backend). */
  get threads(): number | undefined { return this.facts.threads as number | undefined; }

  /** Ends the tower's thread (and process); the backend cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }

  // ---- the wire -----------------------------------------------------------

  private post(c: Command, transfer: (MessagePort | ArrayBuffer)[] = []): void {
    if (this.closed) throw new Error(`${this.name ?? 'a tower'} was closed; make a new backend`);
    this.transport.post(c, transfer);
  }

  /** Blocks until answer `seq` is in. */
  private answer(seq: number, deadlineMs: number, late: () => string): Answer {
    const m = this.transport.next(deadlineMs, late);
    if (m.seq === -1) return m.answer;
    if (m.seq !== seq) return { ok: false, error: `internal: answer ${m.seq} came for read ${seq}` };
    return m.answer;
  }

  /** How many times the caller has waited for this tower (reads, loss values, syncs). */
  get waits(): number { return this.seq; }

  private read(what: ReadWhat): Answer & { ok: true } {
    const seq = ++this.seq;
    this.post({ op: 'read', what, seq });
    const a = this.answer(seq, DEADLINE_MS, () => `no answer in ${DEADLINE_MS / 60000} minutes: the tower is lost`);
    if (!a.ok) throw new Error(a.named ? a.error : `${this.name}: ${a.error}`);
    return a;
  }

  private handleOf(shape: Shape): RemoteHandle {
    return new RemoteHandle(this, shape, this.nextId++);
  }

  private ref(h: Handle): { $h: number } {
    own(this, h);
    const r = h as RemoteHandle;
    if (r.disposed) throw new Error(`a tensor of ${this.name} was used after it was disposed`);
    return { $h: r.id };
  }

  /** Posts a kernel call; its results' handles, in the kernel's order. */
  private call(kernel: string, args: readonly unknown[]): RemoteHandle[] {
    const handles = (a: unknown): a is Handle[] => Array.isArray(a) && a.length > 0 && a.every(isHandleOf);
    const wired = args.map((a) => (handles(a) ? a.map((x) => this.ref(x)) : isHandleOf(a) ? this.ref(a) : a));
    const shapes = RESULT_SHAPES[kernel](...args.map((a) => (handles(a) ? a.map((x) => x.shape) : isHandleOf(a) ? a.shape : a)));
    const outs = shapes.map((s) => this.handleOf(s));
    const ids = outs.map((o) => o.id);
    if (kernel === 'softmaxCrossEntropy') ids.push(this.nextId++);
    this.post({ op: 'call', kernel, args: wired, out: ids, shapes });
    if (kernel === 'softmaxCrossEntropy') outs[0].loss = ids[2];
    return outs;
  }

  private one(kernel: string, ...args: unknown[]): Handle { return this.call(kernel, args)[0]; }

  // ---- memory -------------------------------------------------------------

  upload(t: Tensor): Handle {
    const h = this.handleOf(t.shape);
    this.post({ op: 'upload', id: h.id, tensor: wire(t) });
    return h;
  }

  download(h: Handle): Tensor {
    const a = this.read({ kind: 'tensor', id: this.ref(h).$h });
    return unwire(a.tensor!);
  }

  dispose(h: Handle): void {
    const r = h as RemoteHandle;
    own(this, h);
    if (r.disposed || this.closed) return;
    r.disposed = true;
    this.post({ op: 'dispose', id: r.id });
    if (r.loss !== undefined) this.post({ op: 'dispose', id: r.loss });
  }

  /** The tower backend's own count (its device buffers); waits for the tower. */
  liveCount(): number { return this.read({ kind: 'liveCount' }).value!; }

  /** Waits until every kernel called so far has run; throws the first that failed since the last read. */
  sync(): void { this.read({ kind: 'sync' }); }

  /**
   * Moves a tensor to another tower straight from this one (a port between
   * the two), or says it cannot (`undefined`: the caller goes through the host).
   */
  transferTo(h: Handle, to: Backend): Handle | undefined {
    if (!(to instanceof RemoteBackend) || to === this) return undefined;
    const src = this.ref(h);
    let link = this.links.get(to);
    if (link === undefined) {
      link = nextLink++;
      const { port1, port2 } = channel();
      this.post({ op: 'link', link, port: port1 }, [port1]);
      to.post({ op: 'link', link, port: port2 }, [port2]);
      this.links.set(to, link);
      to.links.set(this, link);
    }
    const moved = to.handleOf(h.shape);
    this.post({ op: 'send', id: src.$h, link, as: moved.id });
    return moved;
  }

  // ---- kernels ------------------------------------------------------------

  reshape(x: Handle, shape: Shape): Handle {
    if (sizeOf(shape) !== sizeOf(x.shape)) throw new Error(`internal: reshape of ${x.shape} to ${shape}`);
    return this.one('reshape', x, shape);
  }
  concat(xs: readonly Handle[]): Handle { return this.one('concat', xs); }
  slice(x: Handle, start: number, count: number): Handle { return this.one('slice', x, start, count); }
  add(a: Handle, b: Handle): Handle { return this.one('add', a, b); }
  conv2d(x: Handle, w: Handle, b: Handle, p: ConvParams): Handle { return this.one('conv2d', x, w, b, p); }
  conv2dGradInput(dy: Handle, w: Handle, xShape: Shape, p: ConvParams): Handle { return this.one('conv2dGradInput', dy, w, xShape, p); }
  conv2dGradFilter(x: Handle, dy: Handle, wShape: Shape, p: ConvParams): Handle { return this.one('conv2dGradFilter', x, dy, wShape, p); }
  biasGrad(dy: Handle): Handle { return this.one('biasGrad', dy); }
  linear(x: Handle, w: Handle, b: Handle): Handle { return this.one('linear', x, w, b); }
  linearGradInput(dy: Handle, w: Handle): Handle { return this.one('linearGradInput', dy, w); }
  linearGradWeight(x: Handle, dy: Handle): Handle { return this.one('linearGradWeight', x, dy); }
  relu(x: Handle): Handle { return this.one('relu', x); }
  reluGrad(y: Handle, dy: Handle): Handle { return this.one('reluGrad', y, dy); }
  lrn(x: Handle, p: LrnParams): Handle { return this.one('lrn', x, p); }
  lrnGrad(x: Handle, dy: Handle, p: LrnParams): Handle { return this.one('lrnGrad', x, dy, p); }
  maxPool(x: Handle, p: PoolParams): Handle { return this.one('maxPool', x, p); }
  maxPoolGrad(x: Handle, dy: Handle, p: PoolParams): Handle { return this.one('maxPoolGrad', x, dy, p); }
  dropout(x: Handle, mask: Handle): Handle { return this.one('dropout', x, mask); }
  dropoutGrad(dy: Handle, mask: Handle): Handle { return this.one('dropoutGrad', dy, mask); }

  softmaxCrossEntropy(logits: Handle, labels: Int32Array): LossResult {
    const [probs, dlogits] = this.call('softmaxCrossEntropy', [logits, labels]);
    const id = probs.loss!;
    let loss: number | undefined;
    const read = () => (loss ??= this.read({ kind: 'number', id }).value!);
    return { probs, dlogits, get loss() { return read(); } };
  }

  sgdUpdate(w: Handle, v: Handle, g: Handle, p: SgdParams): { w: Handle; v: Handle } {
    const [wn, vn] = this.call('sgdUpdate', [w, v, g, p]);
    return { w: wn, v: vn };
  }
}

const isHandleOf = (a: unknown): a is Handle => typeof a === 'object' && a !== null && 'owner' in a && 'shape' in a;

