/**
 * Immutable host tensors, NCHW order, float32 or float64.
 *
 * A `Tensor` never changes after it is made: every kernel returns a new one.
 * (Typed arrays cannot be frozen, so this is a contract; the property suite
 * checks that no kernel writes into its inputs.) `nd()` gives an `ndarray` view
 * over the same memory for code that wants strided views (crops, flips).
 */
import * as E from 'fp-ts/lib/Either.js';
import ndarray from 'ndarray';
import { type AlexnetError, shapeError, valueError } from './errors.ts';

export type DType = 'float32' | 'float64';
export type Shape = readonly number[];
export type Data = Float32Array | Float64Array;

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

export const shapeString = (shape: Shape): string => `[${shape.join(', ')}]`;

export const sameShape = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

export const allocate = (dtype: DType, length: number): Data =>
  dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);

export const validateShape = (shape: Shape): E.Either<AlexnetError, Shape> => {
  const bad = shape.findIndex((d) => !Number.isInteger(d) || d <= 0);
  return bad >= 0
    ? E.left(shapeError(`shape ${shapeString(shape)} has dimension ${bad} = ${shape[bad]}; every dimension must be a positive integer`))
    : E.right(Object.freeze([...shape]));
};

export class Tensor {
  readonly size: number;

  private constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    readonly data: Data,
  ) {
    this.size = data.length;
    Object.freeze(this);
  }

  /**
   * Makes a tensor from user data, checking everything: the shape, that the data
   * length matches it, and that every value is finite.
   */
  static of(shape: Shape, data: ArrayLike<number>, dtype?: DType): E.Either<AlexnetError, Tensor> {
    const dt: DType = dtype ?? (data instanceof Float32Array ? 'float32' : 'float64');
    return E.chain((s: Shape) => {
      const n = sizeOf(s);
      if (data.length !== n) {
        return E.left(shapeError(`data has ${data.length} values but shape ${shapeString(s)} needs ${n}; pass data of length ${n} or a shape whose product is ${data.length}`));
      }
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) {
          return E.left(valueError(`value ${data[i]} at flat index ${i} of a tensor of shape ${shapeString(s)} is not finite; inputs must be finite numbers`));
        }
      }
      const copy = allocate(dt, n);
      copy.set(data);
      return E.right(new Tensor(s, dt, copy));
    })(validateShape(shape));
  }

  /**
   * Wraps data without copying or checking values. For kernels, whose inputs
   * were validated upstream; the caller gives up the array (it must not write
   * into it afterwards).
   */
  static trusted(shape: Shape, data: Data): Tensor {
    if (data.length !== sizeOf(shape)) {
      throw new Error(`internal: data length ${data.length} does not match shape ${shapeString(shape)}`);
    }
    return new Tensor(Object.freeze([...shape]), data instanceof Float32Array ? 'float32' : 'float64', data);
  }

  static zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    return Tensor.trusted(shape, allocate(dtype, sizeOf(shape)));
  }

  static fill(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    return Tensor.trusted(shape, allocate(dtype, sizeOf(shape)).fill(value));
  }

  /** A new tensor of the same shape whose values are f(value, flat index). */
  map(f: (v: number, i: number) => number, dtype: DType = this.dtype): Tensor {
    const out = allocate(dtype, this.size);
    for (let i = 0; i < this.size; i++) out[i] = f(this.data[i], i);
    return Tensor.trusted(this.shape, out);
  }

  /** The same values seen with another shape of the same size. */
  reshape(shape: Shape): E.Either<AlexnetError, Tensor> {
    return E.chain((s: Shape) =>
      sizeOf(s) === this.size
        ? E.right(new Tensor(s, this.dtype, this.data))
        : E.left(shapeError(`cannot reshape ${shapeString(this.shape)} (${this.size} values) to ${shapeString(s)} (${sizeOf(s)} values)`)),
    )(validateShape(shape));
  }

  as(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    const out = allocate(dtype, this.size);
    out.set(this.data);
    return Tensor.trusted(this.shape, out);
  }

  /** An ndarray view over the same memory (read it; do not write through it). */
  nd(): ndarray.NdArray<Data> {
    return ndarray(this.data, [...this.shape]);
  }

  /** The element at a multi-index (slow; for tests and small reads). */
  at(...index: number[]): number {
    let flat = 0;
    for (let d = 0; d < this.shape.length; d++) flat = flat * this.shape[d] + index[d];
    return this.data[flat];
  }

  toArray(): number[] {
    return Array.from(this.data);
  }
}
