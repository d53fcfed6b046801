/**
 * The only way a tensor moves between backends (between the two towers). Each
 * move is logged with the layer that needed it, so the exchange pattern of a
 * pass can be checked against the paper: only conv3, fc6, fc7 and fc8 read both
 * towers.
 */
import type { Backend, Handle } from './backend.ts';
import { sizeOf } from './tensor.ts';

export interface TransferRecord {
  readonly layer: string;
  readonly direction: 'forward' | 'backward';
  readonly from: string;
  readonly to: string;
  readonly bytes: number;
}

export type TransferLog = TransferRecord[];

/**
 * Moves `h` to backend `to`, counting its float32 bytes. A backend may offer a
 * path of its own (`transferTo`: two towers in other threads or processes pass
 * it between themselves); otherwise the tensor goes through the host. Always
 * makes a new handle.
 */
export const transfer = (h: Handle, to: Backend, log: TransferLog, layer: string, direction: 'forward' | 'backward'): Handle => {
  const from = h.owner;
  log.push({ layer, direction, from: from.name, to: to.name, bytes: sizeOf(h.shape) * 4 });
  return from.transferTo?.(h, to) ?? to.upload(from.download(h));
};
