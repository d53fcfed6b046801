/**
 * Where a tower runs, on the far side of ./client.ts. Three roles, one file:
 *
 * - a worker thread that builds the backend and serves it (`serve`);
 * - a worker thread that starts a process of its own for the backend and
 *   relays to it (`relay`: headless GL loads in one thread per process only,
 *   so each GL tower gets a process);
 * - that process (no worker data: started by a relay).
 *
 * Either thread answers the caller's reads on the reply port and then bumps
 * the shared answer counter the caller waits on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { AsyncBackend, Later } from '../../core/backend.ts';
import type { Answer, BackendRecipe, Command, Recv } from './protocol.ts';
import { readyOf, TowerServer } from './server.ts';

export interface TowerData {
  readonly role: 'serve' | 'relay';
  readonly recipe: BackendRecipe;
  /** [0]: how many answers have been posted on `reply`. */
  readonly counter: Int32Array;
  readonly reply: MessagePort;
  /** For the relay's process: its environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Builds the backend a recipe names: synchronous or asynchronous, the tower serves either. */
export const build = async (recipe: BackendRecipe): Promise<AsyncBackend> => {
  const url = recipe.module.startsWith('file:') ? recipe.module : new URL(`file://${recipe.module}`).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const make = mod[recipe.factory] ?? (mod.default as Record<string, unknown> | undefined)?.[recipe.factory];
  if (typeof make !== 'function') throw new Error(`${recipe.module} does not export a function ${recipe.factory}`);
  return (make as (o: unknown) => Later<AsyncBackend>)(recipe.options);
};

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Answers the caller: the reply, then the counter it waits on. */
const answerer = (d: TowerData) => (seq: number, a: Answer, transfer: ArrayBuffer[] = []): void => {
  d.reply.postMessage({ seq, answer: a }, transfer);
  Atomics.add(d.counter, 0, 1);
  Atomics.notify(d.counter, 0);
};

const serveInThread = async (d: TowerData): Promise<void> => {
  const answer = answerer(d);
  const ports = new Map<number, MessagePort>();
  let server: TowerServer;
  try {
    const be = await build(d.recipe);
    server = new TowerServer(be, { answer: (seq, a) => answer(seq, a), peer: (link, r) => ports.get(link)!.postMessage(r) });
    answer(0, { ok: true, ready: readyOf(be) });
  } catch (e) {
    answer(0, { ok: false, error: message(e) });
    return;
  }
  parentPort!.on('message', (c: Command) => {
    if (c.op === 'link') {
      ports.set(c.link, c.port);
      c.port.on('message', (r: Recv) => server.received(r));
    } else if (c.op === 'close') {
      for (const p of ports.values()) p.close();
      parentPort!.close();
    } else {
      server.command(c);
    }
  });
};

/** What the relay's process says back. */
type FromProcess =
  | { readonly seq: number; readonly answer: Answer }
  | { readonly peer: number; readonly recv: Recv };

const relay = (d: TowerData): void => {
  const answer = answerer(d);
  const ports = new Map<number, MessagePort>();
  let dead: string | null = null;
  let started = false;
  const pending = new Set<number>();
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL('./entry.mjs', import.meta.url))], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    env: { ...process.env, ...d.env },
  });
  const die = (why: string): void => {
    if (dead !== null) return;
    dead = why;
    if (!started) pending.add(0);
    for (const seq of [...pending].sort((a, b) => a - b)) answer(seq, { ok: false, error: why });
    pending.clear();
  };
  child.on('error', (e) => die(`its process could not start: ${e.message}`));
  child.on('exit', (code, signal) => die(`its process ended (${signal ? `signal ${signal}` : `exit code ${code}`})`));
  child.on('message', (m: FromProcess) => {
    if ('peer' in m) {
      const data = m.recv.tensor?.data;
      ports.get(m.peer)!.postMessage(m.recv, data ? [data.buffer as ArrayBuffer] : []);
      return;
    }
    if (m.seq === 0) started = true;
    pending.delete(m.seq);
    const data = m.answer.ok ? m.answer.tensor?.data : undefined;
    answer(m.seq, m.answer, data ? [data.buffer as ArrayBuffer] : []);
  });
  child.send({ op: 'start', recipe: d.recipe });
  parentPort!.on('message', (c: Command) => {
    if (c.op === 'link') {
      ports.set(c.link, c.port);
      c.port.on('message', (r: Recv) => { if (dead === null) child.send({ op: 'recv', recv: r }); });
      return;
    }
    if (c.op === 'close') {
      for (const p of ports.values()) p.close();
      child.kill();
      parentPort!.close();
      return;
    }
    if (dead !== null) {
      if (c.op === 'read') answer(c.seq, { ok: false, error: dead });
      return;
    }
    if (c.op === 'read') pending.add(c.seq);
    child.send(c);
  });
};

/** The relay's process: one backend, commands over the IPC channel. */
const serveInProcess = (): void => {
  let server: TowerServer | undefined;
  const early: unknown[] = [];
  const send = (m: unknown): void => { process.send!(m); };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: { op: string; recipe?: BackendRecipe; recv?: Recv }) => {
    if (m.op === 'start') {
      build(m.recipe!).then(
        (be) => {
          server = new TowerServer(be, { answer: (seq, a) => send({ seq, answer: a }), peer: (link, r) => send({ peer: link, recv: r }) });
          send({ seq: 0, answer: { ok: true, ready: readyOf(be) } });
          for (const e of early.splice(0)) deliver(e as typeof m);
        },
        (e) => process.send!({ seq: 0, answer: { ok: false, error: message(e) } }, () => process.exit(1)),
      );
      return;
    }
    if (!server) { early.push(m); return; }
    deliver(m);
  });
  const deliver = (m: { op: string; recv?: Recv }): void => {
    if (m.op === 'recv') server!.received(m.recv!);
    else server!.command(m as Command);
  };
};

if (isMainThread) serveInProcess();
else if ((workerData as TowerData).role === 'relay') relay(workerData as TowerData);
else void serveInThread(workerData as TowerData);
