/**
 * Parameters: one weight and one bias tensor per learned layer, named
 * `conv1.weight`, `conv1.bias`, ... in layer order. The canonical layout is the
 * single-device (grouped) network; each tower holds a slice of every layer's
 * units (rows of axis 0).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type LayerInfo, type NetSpec, describe, towerSplit } from './alexnet.ts';
import { type AlexnetError, shapeError } from './errors.ts';
import { Rng } from './rng.ts';
import { allocate, type DType, sameShape, shapeString, sizeOf, Tensor } from './tensor.ts';

export type Params = ReadonlyMap<string, Tensor>;

export const weightName = (layer: string) => `${layer}.weight`;
export const biasName = (layer: string) => `${layer}.bias`;

/** The expected name and shape of every parameter, in order. */
export const parameterShapes = (rows: readonly LayerInfo[]): [string, readonly number[]][] =>
  rows.flatMap((r) => [
    [weightName(r.name), r.weightShape],
    [biasName(r.name), [r.spec.out]],
  ]);

/**
 * The paper's initialisation (section 5): every weight from N(0, 0.01^2); the
 * biases of conv2, conv4, conv5, fc6 and fc7 set to 1, the others to 0 (the
 * spec's `biasInit`). The same seed gives the same network.
 */
export const initParams = (spec: NetSpec, seed: number, dtype: DType = 'float32'): Params => {
  const rows = E.getOrElseW((e: AlexnetError) => { throw new Error(e.message); })(describe(spec));
  const rng = new Rng(seed).derive('init');
  const out = new Map<string, Tensor>();
  for (const r of rows) {
    const w = allocate(dtype, sizeOf(r.weightShape));
    for (let i = 0; i < w.length; i++) w[i] = rng.normal(0, spec.initStd);
    out.set(weightName(r.name), Tensor.trusted(r.weightShape, w));
    out.set(biasName(r.name), Tensor.fill([r.spec.out], r.spec.biasInit, dtype));
  }
  return out;
};

/** Checks that `params` has exactly the parameters of `spec`, with the right shapes. */
export const checkParams = (spec: NetSpec, params: Params): E.Either<AlexnetError, Params> =>
  E.chain((rows: readonly LayerInfo[]) => {
    const want = parameterShapes(rows);
    for (const [name, shape] of want) {
      const t = params.get(name);
      if (!t) return E.left(shapeError(`${spec.name} needs parameter '${name}' ${shapeString(shape)}, which is missing`));
      if (!sameShape(t.shape, shape)) return E.left(shapeError(`parameter '${name}' has shape ${shapeString(t.shape)} but ${spec.name} needs ${shapeString(shape)}`));
    }
    const extra = [...params.keys()].filter((k) => !want.some(([n]) => n === k));
    if (extra.length > 0) return E.left(shapeError(`${spec.name} has no parameter named ${extra.map((e) => `'${e}'`).join(', ')}`));
    return E.right(params);
  })(describe(spec));

/** Rows [start, start + count) of axis 0. */
export const rows = (t: Tensor, start: number, count: number): Tensor => {
  const inner = t.size / t.shape[0];
  const data = t.data.slice(start * inner, (start + count) * inner);
  return Tensor.trusted([count, ...t.shape.slice(1)], data);
};

/** Joins tensors along axis 0. */
export const stackRows = (ts: readonly Tensor[]): Tensor => {
  const total = ts.reduce((s, t) => s + t.size, 0);
  const data = allocate(ts[0].dtype, total);
  let at = 0;
  for (const t of ts) { data.set(t.data, at); at += t.size; }
  return Tensor.trusted([ts.reduce((s, t) => s + t.shape[0], 0), ...ts[0].shape.slice(1)], data);
};

/** Which rows of a layer with `units` units tower `t` of `towers` holds. */
export const towerRows = (units: number, towers: number, t: number): { start: number; count: number } => {
  if (towers === 1) return { start: 0, count: units };
  const [a, b] = towerSplit(units);
  return t === 0 ? { start: 0, count: a } : { start: a, count: b };
};

/** Tower t's slice of every parameter. */
export const splitParams = (params: Params, towers: number, t: number): Params =>
  new Map([...params].map(([name, p]) => {
    const { start, count } = towerRows(p.shape[0], towers, t);
    return [name, rows(p, start, count)];
  }));

/** The inverse of `splitParams`: joins the towers' slices back. */
export const joinParams = (parts: readonly Params[]): Params =>
  new Map([...parts[0].keys()].map((name) => [name, stackRows(parts.map((p) => p.get(name)!))]));

export const zerosLike = (params: Params): Params =>
  new Map([...params].map(([n, p]) => [n, Tensor.zeros(p.shape, p.dtype)]));
