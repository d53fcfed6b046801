/**
 * Towers in the page, the caller's side: an asynchronous backend (gpu.js on
 * WebGPU) in a worker of its own (web/tower.ts), behind the same
 * `RemoteBackend` that serves towers in Node, so the kit, the executor and
 * the bench run on it unchanged. Commands go on a port; the caller blocks in
 * `Atomics.wait` for a read's answer, which the tower writes into shared
 * memory (web/mailbox.ts).
 *
 * The page's thread makes the tower's worker on request and hands this worker
 * its end of a channel (main.ts): `pageTower` asks for it with a message and
 * awaits it, before anything blocks.
 */
import type { MessagePort as NodePort } from 'node:worker_threads';
import { RemoteBackend, type TowerTransport } from '../backends/remote/backend.ts';
import type { Answer, Command } from '../backends/remote/protocol.ts';
import { newMailbox, takeAnswer } from './mailbox.ts';
import type { StartTower } from './tower.ts';
import type { PageTowerKind } from './tower-kinds.ts';

class MailboxTransport implements TowerTransport {
  private taken = 0;
  constructor(private readonly port: MessagePort, private readonly mailbox: SharedArrayBuffer) {}

  post(c: Command, transfer: (NodePort | ArrayBuffer)[] = []): void {
    this.port.postMessage(c, transfer as unknown as Transferable[]);
  }

  next(deadlineMs: number, late: () => string): { seq: number; answer: Answer } {
    const m = takeAnswer(this.mailbox, this.taken, deadlineMs, late);
    if (m.seq !== -1) this.taken++;
    return m;
  }

  close(): void {
    this.port.postMessage({ op: 'close' } satisfies Command);
    this.port.close();
  }
}

/** The ports the page has handed over, by ticket. */
const waiting = new Map<number, (port: MessagePort) => void>();
let nextTicket = 1;

/** What the page's worker posts to ask for a tower's port (see main.ts). */
export interface TowerPortRequest { readonly type: 'tower'; readonly ticket: number }
/** How the page answers. */
export interface TowerPortReply { readonly type: 'tower-port'; readonly ticket: number; readonly port: MessagePort }

/** Takes a port the page sent (worker.ts passes it here); false if the message is not one. */
export const takeTowerPort = (m: unknown): boolean => {
  const r = m as Partial<TowerPortReply> | null;
  if (r?.type !== 'tower-port' || r.ticket === undefined || !r.port) return false;
  waiting.get(r.ticket)?.(r.port);
  waiting.delete(r.ticket);
  return true;
};

/**
 * A tower of `kind` in a worker of its own; resolves once the page has made
 * the worker, then blocks until the tower has built its backend (or throws
 * why it could not).
 */
export const pageTower = async (kind: PageTowerKind, name: string): Promise<RemoteBackend> => {
  if (!(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
    throw new Error('the page is not cross-origin isolated, so its worker cannot wait for a tower (serve it with npm run web, which sends COOP and COEP)');
  }
  const ticket = nextTicket++;
  const port = await new Promise<MessagePort>((ok) => {
    waiting.set(ticket, ok);
    (globalThis as unknown as { postMessage(m: TowerPortRequest): void }).postMessage({ type: 'tower', ticket });
  });
  const mailbox = newMailbox();
  port.postMessage({ op: 'start', kind, name, mailbox } satisfies StartTower);
  return new RemoteBackend(new MailboxTransport(port, mailbox), 'a worker of its own', kind, name);
};
