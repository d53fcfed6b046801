/** Tensors: validated construction, immutability of results, views. */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../core/tensor.ts';

test('a data length that does not match the shape is a Left naming both', () => {
  const r = Tensor.of([2, 3], [1, 2, 3, 4, 5]);
  assert.ok(E.isLeft(r));
  if (E.isLeft(r)) {
    assert.match(r.left.message, '5 values');
    assert.match(r.left.message, '[2, 3]');
    assert.match(r.left.message, 'needs 6');
    assert.is(r.left._tag, 'ShapeError');
  }
});

test('a non-positive or fractional dimension is a Left', () => {
  for (const shape of [[0, 3], [2, -1], [1.5, 2]]) {
    const r = Tensor.of(shape, []);
    assert.ok(E.isLeft(r) && /positive integer/.test(r.left.message), `shape ${shape}`);
  }
});

test('NaN and infinities are refused with their position', () => {
  const r = Tensor.of([2, 2], [0, 1, NaN, 3]);
  assert.ok(E.isLeft(r) && /NaN at flat index 2/.test(r.left.message));
  const s = Tensor.of([1], [Infinity]);
  assert.ok(E.isLeft(s) && s.left._tag === 'ValueError');
});

test('Tensor.of copies its input: changing the source later does not change the tensor', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 20 }), (values) => {
      const src = Float64Array.from(values);
      const t = E.getOrElseW(() => { throw new Error('rejected'); })(Tensor.of([values.length], src));
      src.fill(42);
      assert.equal(t.toArray(), Array.from(Float64Array.from(values)));
    }),
  );
});

test('tensors are frozen objects; reshape shares data only when sizes agree', () => {
  const t = Tensor.fill([2, 3], 1);
  assert.ok(Object.isFrozen(t));
  assert.throws(() => { (t as unknown as { shape: number[] }).shape = [6]; });
  assert.ok(E.isRight(t.reshape([3, 2])));
  const bad = t.reshape([4, 2]);
  assert.ok(E.isLeft(bad) && /cannot reshape \[2, 3\]/.test(bad.left.message));
});

test('nd() is an ndarray view with the same shape and values', () => {
  const t = E.getOrElseW(() => { throw new Error(); })(Tensor.of([2, 2, 3], Array.from({ length: 12 }, (_, i) => i)));
  const v = t.nd();
  assert.equal(v.shape, [2, 2, 3]);
  assert.is(v.get(1, 0, 2), 8);
  assert.is(t.at(1, 0, 2), 8);
});

test.run();
