/**
 * SHA-256 of a sequence of strings (as UTF-8) and byte arrays, in hex: the
 * checkpoint's integrity check. Node's own implementation here; the page's
 * build swaps in sha256.browser.ts, the same function in plain TypeScript.
 */
import { createHash } from 'node:crypto';

export const sha256Hex = (parts: readonly (string | Uint8Array)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
