/**
 * Flag values checked once, with one clear message naming the flag, what it
 * got and what it takes. Parsing itself is node's `util.parseArgs`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { argumentError, orThrow } from '../core/errors.ts';

const bad = (msg: string): never => orThrow(E.left(argumentError(msg)));

/** A whole number in [min, max]; `fallback` when the flag is absent. */
export const intFlag = (name: string, raw: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number => {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
    return bad(`--${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` of at least ${min}`}, got '${raw}'`);
  }
  return v;
};

/** A finite number in [min, max]. */
export const numFlag = (name: string, raw: string | undefined, fallback: number, min = 0, max = Infinity): number => {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    return bad(`--${name} must be a number${max < Infinity ? ` from ${min} to ${max}` : ` of at least ${min}`}, got '${raw}'`);
  }
  return v;
};

/** One of the listed values. */
export const choiceFlag = <T extends string>(name: string, raw: string | undefined, choices: readonly T[], fallback: T): T => {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) return bad(`--${name} must be one of ${choices.join(', ')}, got '${raw}'`);
  return raw as T;
};
