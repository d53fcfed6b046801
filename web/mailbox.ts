/**
 * A tower's answers in the page, through shared memory. The caller's worker
 * (web/towers.ts) blocks in `Atomics.wait` while it waits for a read, so the
 * answer cannot come as a message (a blocked worker runs no events); the
 * tower's worker (web/tower.ts) writes it into a growable SharedArrayBuffer
 * and bumps the count the caller waits on. One answer at a time: the caller
 * takes each before it asks for the next.
 *
 * The page is cross-origin isolated (tools/web.mjs sends COOP and COEP), which
 * SharedArrayBuffer needs.
 *
 * Layout: int32 words [count, seq, JSON bytes, data bytes, data kind (0 none,
 * 1 float32, 2 float64)], the answer as JSON from byte 32 (a tensor without
 * its values), then the values at the next multiple of 8.
 */
import type { Answer } from '../backends/remote/protocol.ts';

const HEADER = 32;
const INITIAL = 1 << 16;
/** The largest answer: fc6's weights of the full network are 151 MB; a gradient read is the largest read there is. */
export const MAILBOX_MAX = 1 << 30;

type Growable = SharedArrayBuffer & { grow(n: number): void };

export const newMailbox = (): SharedArrayBuffer =>
  new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(INITIAL, { maxByteLength: MAILBOX_MAX });

const words = (sab: SharedArrayBuffer) => new Int32Array(sab, 0, 5);
const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** The tower's side: writes answer `seq`, then wakes the caller. */
export const postAnswer = (sab: SharedArrayBuffer, seq: number, answer: Answer): void => {
  const t = answer.ok ? answer.tensor : undefined;
  const json = new TextEncoder().encode(JSON.stringify(t ? { ...answer, tensor: { shape: t.shape } } : answer));
  const at = align8(HEADER + json.length);
  const bytes = t ? t.data.byteLength : 0;
  if (at + bytes > MAILBOX_MAX) {
    return postAnswer(sab, seq, { ok: false, error: `a read of ${bytes} bytes is larger than the page's ${MAILBOX_MAX} byte mailbox` });
  }
  if (sab.byteLength < at + bytes) (sab as Growable).grow(at + bytes);
  new Uint8Array(sab, HEADER, json.length).set(json);
  if (t) new Uint8Array(sab, at, bytes).set(new Uint8Array(t.data.buffer, t.data.byteOffset, bytes));
  const w = words(sab);
  w[1] = seq;
  w[2] = json.length;
  w[3] = bytes;
  w[4] = !t ? 0 : t.data instanceof Float32Array ? 1 : 2;
  Atomics.add(w, 0, 1);
  Atomics.notify(w, 0);
};

/** The caller's side: blocks until answer number `taken + 1` is in, then copies it out. */
export const takeAnswer = (sab: SharedArrayBuffer, taken: number, deadlineMs: number, late: () => string): { seq: number; answer: Answer } => {
  const w = words(sab);
  const until = Date.now() + deadlineMs;
  while (Atomics.load(w, 0) === taken) {
    const left = until - Date.now();
    if (left <= 0 || Atomics.wait(w, 0, taken, left) === 'timed-out') return { seq: -1, answer: { ok: false, error: late() } };
  }
  const [, seq, jsonBytes, bytes, kind] = w;
  const answer = JSON.parse(new TextDecoder().decode(new Uint8Array(sab, HEADER, jsonBytes).slice())) as Answer & { tensor?: { shape: number[] } };
  if (answer.ok && answer.tensor) {
    const at = align8(HEADER + jsonBytes);
    const copy = new Uint8Array(sab, at, bytes).slice().buffer;
    const data = kind === 1 ? new Float32Array(copy) : new Float64Array(copy);
    return { seq, answer: { ...answer, tensor: { shape: answer.tensor.shape, data } } };
  }
  return { seq, answer };
};
