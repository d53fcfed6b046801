/**
 * The only way a tensor moves between backends (between the two towers). Each
 * move is logged with the layer that needed it, so the exchange pattern of a
 * pass can be checked against the paper: only conv3, fc6, fc7 and fc8 read both
 * towers.
 */
import type { Backend, Handle } from './backend.ts';

export interface TransferRecord {
  readonly layer: string;
  readonly direction: 'forward' | 'backward';
  readonly from: string;
  readonly to: string;
  readonly bytes: number;
}

export type TransferLog = TransferRecord[];

/**
 * Moves `h` to backend `to`. A backend may offer a faster path (`transferTo`);
 * otherwise the tensor goes through the host. Always makes a new handle.
 */
export const transfer = (h: Handle, to: Backend, log: TransferLog, layer: string, direction: 'forward' | 'backward'): Handle => {
  const from = h.owner;
  const host = from.download(h);
  log.push({ layer, direction, from: from.name, to: to.name, bytes: host.size * 4 });
  return to.upload(host);
};
