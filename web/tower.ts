/**
 * A tower in the page: a worker of its own that builds one asynchronous
 * backend (gpu.js on WebGPU) and serves it with the tower server of
 * backends/remote, the same that serves a tower in Node. Commands come on a
 * port from the caller's worker (web/towers.ts); reads are answered in the
 * caller's mailbox (web/mailbox.ts), which it blocks on; tensors for the other
 * tower go on a port between the two.
 *
 * The page makes this worker (main.ts) and hands each end of a channel to it
 * and to the caller: a worker cannot make it itself, as Chromium starts a
 * worker's own workers on its thread, which the caller blocks.
 */
import type { AsyncBackend } from '../core/backend.ts';
import type { Command, Recv } from '../backends/remote/protocol.ts';
import { readyOf, TowerServer } from '../backends/remote/server.ts';
import { postAnswer } from './mailbox.ts';
import { PAGE_TOWERS, type PageTowerKind } from './tower-kinds.ts';

/** What the caller sends first on its port. */
export interface StartTower {
  readonly op: 'start';
  readonly kind: PageTowerKind;
  readonly name: string;
  readonly mailbox: SharedArrayBuffer;
}

const scope = globalThis as unknown as { onmessage: ((e: { data: { port: MessagePort } }) => void) | null; close(): void };

scope.onmessage = (e) => {
  const port = e.data.port;
  let server: TowerServer | undefined;
  let mailbox: SharedArrayBuffer | undefined;
  /** What came before the backend was built: commands, and tensors from the other tower. */
  const early: ((s: TowerServer) => void)[] = [];
  const toServer = (f: (s: TowerServer) => void) => (server ? f(server) : early.push(f));
  const links = new Map<number, MessagePort>();
  const message = (x: unknown) => (x instanceof Error ? x.message : String(x));
  port.onmessage = (m: MessageEvent<Command | StartTower>) => {
    const c = m.data;
    if (c.op === 'start') {
      mailbox = c.mailbox;
      const box = c.mailbox;
      const make = PAGE_TOWERS[c.kind];
      const built: Promise<AsyncBackend> = make ? make(c.name) : Promise.reject(new Error(`the page has no tower of kind '${c.kind}'`));
      built.then(
        (be) => {
          const s = new TowerServer(be, {
            answer: (seq, a) => postAnswer(box, seq, a),
            peer: (link, r) => links.get(link)!.postMessage(r),
          });
          postAnswer(box, 0, { ok: true, ready: readyOf(be) });
          server = s;
          for (const f of early.splice(0)) f(s);
        },
        (err: unknown) => postAnswer(box, 0, { ok: false, error: message(err) }),
      );
      return;
    }
    if (c.op === 'link') {
      const p = c.port as unknown as MessagePort;
      links.set(c.link, p);
      p.onmessage = (r: MessageEvent<Recv>) => toServer((s) => s.received(r.data));
      return;
    }
    if (c.op === 'close') {
      for (const p of links.values()) p.close();
      port.close();
      scope.close();
      return;
    }
    if (mailbox) toServer((s) => s.command(c));
  };
};
