/**
 * What the calling thread says to a tower that runs elsewhere (a worker thread
 * or a process of its own), and how the tower answers.
 *
 * Commands are posted and not waited for: a kernel call names its inputs and
 * its result by handle number, so the caller can go on issuing the next call
 * (and the other tower's) while this one runs. Only a read (`download`, a
 * loss, `liveCount`, `sync`) waits: the caller hands the tower a shared reply
 * buffer and blocks on its status word until the answer is written there.
 *
 * Between two towers a tensor can move without the caller: `send` tells the
 * tower holding it to post its values on a port to the other tower, which
 * takes it in as a new handle (`recv`); the receiving tower holds back any
 * command that needs a handle still on its way.
 */
import type { MessagePort } from 'node:worker_threads';
import { Tensor } from '../../core/tensor.ts';

/** How the tower process or thread builds its backend: a module, the factory it exports, and the factory's one argument. */
export interface BackendRecipe {
  /** A file URL or an absolute path (a .ts module in the source tree; .js in the compiled package). */
  readonly module: string;
  readonly factory: string;
  /** Must survive structured cloning. */
  readonly options?: unknown;
}

/** A handle's place in a kernel's arguments; anything else is passed as it is. */
export interface HandleRef { readonly $h: number }

export interface WireTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

export type Command =
  /** `from`: the tensor came from elsewhere (the other tower), named in a failure. */
  | { readonly op: 'upload'; readonly id: number; readonly tensor: WireTensor; readonly from?: string }
  /**
   * A kernel; `out` numbers its handles in the order the kernel returns them
   * (loss results: probs, dlogits, then the loss as a number), `shapes` are
   * the shapes the caller gave those handles (./shapes.ts), checked here.
   */
  | { readonly op: 'call'; readonly kernel: string; readonly args: readonly unknown[]; readonly out: readonly number[]; readonly shapes: readonly (readonly number[])[] }
  | { readonly op: 'dispose'; readonly id: number }
  /** Post handle `id`'s values on peer link `link` as handle `as` of the tower at the other end. */
  | { readonly op: 'send'; readonly id: number; readonly link: number; readonly as: number }
  /** A port to another tower; `recv` messages arrive on it. */
  | { readonly op: 'link'; readonly link: number; readonly port: MessagePort }
  | { readonly op: 'read'; readonly what: ReadWhat; readonly seq: number }
  | { readonly op: 'close' };

/** What a read asks for: a handle's values, a loss, the live buffer count, or nothing (a barrier). */
export type ReadWhat =
  | { readonly kind: 'tensor'; readonly id: number }
  | { readonly kind: 'number'; readonly id: number }
  | { readonly kind: 'liveCount' }
  | { readonly kind: 'sync' };

/** On a peer port: the tensor, or why it could not be sent (the kernel that made it failed). */
export type Recv =
  | { readonly op: 'recv'; readonly as: number; readonly tensor: WireTensor; readonly lost?: undefined }
  | { readonly op: 'recv'; readonly as: number; readonly lost: string; readonly tensor?: undefined };

export type Answer =
  | { readonly ok: true; readonly tensor?: WireTensor; readonly value?: number; readonly ready?: Ready }
  /** `named`: the error already names the tower where it began (a failure passed on from the other tower does). */
  | { readonly ok: false; readonly error: string; readonly named?: boolean };

/** What a tower says once its backend is built: its name and the scalar facts it offers (mode, threads, ...). */
export interface Ready {
  readonly name: string;
  readonly facts: Readonly<Record<string, string | number | boolean | null>>;
  /** The kernels the backend declares it does not offer, with why (properties/kit/run.ts). */
  readonly notOffered?: Readonly<Record<string, string>>;
}

export const isRef = (v: unknown): v is HandleRef => typeof v === 'object' && v !== null && '$h' in v;

export const wire = (t: Tensor): WireTensor => ({ shape: t.shape, data: t.data });
export const unwire = (w: WireTensor): Tensor => Tensor.trusted(w.shape, w.data);
