/**
 * Errors a user can cause: a wrong shape, a NaN, a bad file, a bad flag.
 *
 * Fallible user-facing operations return `Either<AlexnetError, A>` (fp-ts). Each
 * error is tagged by what went wrong and its message says what was expected, so
 * the CLI can print it as one line and exit non-zero.
 */
import * as E from 'fp-ts/lib/Either.js';

export type ErrorTag =
  | 'ShapeError'
  | 'ValueError'
  | 'DatasetError'
  | 'CheckpointError'
  | 'ArgumentError'
  | 'BackendError';

export interface AlexnetError {
  readonly _tag: ErrorTag;
  readonly message: string;
}

export const alexnetError = (tag: ErrorTag, message: string): AlexnetError => ({ _tag: tag, message });

export const shapeError = (message: string) => alexnetError('ShapeError', message);
export const valueError = (message: string) => alexnetError('ValueError', message);
export const datasetError = (message: string) => alexnetError('DatasetError', message);
export const checkpointError = (message: string) => alexnetError('CheckpointError', message);
export const argumentError = (message: string) => alexnetError('ArgumentError', message);
export const backendError = (message: string) => alexnetError('BackendError', message);

/**
 * Text taken from a file (a tensor's name, a parser's complaint that quotes the
 * file) made fit for a one-line message: line breaks and other control
 * characters escaped, and anything past `max` characters cut off with "...".
 * A damaged or hostile file must not be able to spread a message over lines
 * or fill a terminal.
 */
export const excerpt = (text: string, max = 80): string => {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
};

/**
 * An `AlexnetError` raised as an exception, for code paths that cannot return an
 * `Either` (deep inside a training loop, say). The CLI catches it and prints only
 * its message.
 */
export class AlexnetFailure extends Error {
  constructor(readonly error: AlexnetError) {
    super(error.message);
    this.name = error._tag;
  }
}

/** Unwraps a `Right`, or throws the `Left` as an `AlexnetFailure`. */
export const orThrow = <A>(e: E.Either<AlexnetError, A>): A => {
  if (E.isLeft(e)) throw new AlexnetFailure(e.left);
  return e.right;
};

export const fail = (tag: ErrorTag, message: string): never => {
  throw new AlexnetFailure(alexnetError(tag, message));
};
