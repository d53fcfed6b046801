/**
 * The tower executor: runs a network spec on a *placement*, one backend per
 * tower, as the paper ran AlexNet on two GPUs.
 *
 * - Placement [b]: one context runs the whole network; layers that read their
 *   own tower only become grouped convolutions (groups = 2).
 * - Placement [b0, b1]: tower t holds its half of every layer's units on b_t.
 *   Layers with link 'own' read their tower's maps; layers with link 'both'
 *   (conv3, fc6, fc7, fc8) read both towers' maps, the other tower's arriving
 *   through an explicit, logged `transfer`. Nothing else crosses.
 *
 * Parameters live on the backends for the network's life; one training step
 * (forward, loss, backward, update) runs inside a `Scope`, so every
 * intermediate buffer is released when the step ends.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type LayerInfo, type LayerSpec, type NetSpec, describe, groupsOf, towerSplit } from './alexnet.ts';
import type { Backend, Handle, SgdParams } from './backend.ts';
import { type AlexnetError, argumentError, orThrow, shapeError, valueError } from './errors.ts';
import * as L from './layers.ts';
import { biasName, checkParams, joinParams, type Params, splitParams, towerRows, weightName, zerosLike } from './params.ts';
import { Rng } from './rng.ts';
import { Scope } from './scope.ts';
import { sameShape, shapeString, Tensor } from './tensor.ts';
import { transfer, type TransferLog } from './transfer.ts';
import { sliceHost } from './host.ts';

export type Placement = readonly [Backend] | readonly [Backend, Backend];

export interface PassOptions {
  /** Training mode: dropout on. */
  readonly train?: boolean;
  /** Draws the dropout masks when training. */
  readonly rng?: Rng;
  /** Explicit full-width dropout masks by layer name (overrides rng). */
  readonly masks?: ReadonlyMap<string, Tensor>;
}

export interface Gradients {
  readonly loss: number;
  readonly logits: Tensor;
  readonly probs: Tensor;
  readonly grads: Params;
  /** Gradient with respect to the input (only when asked for). */
  readonly dx?: Tensor;
}

interface Tower {
  readonly be: Backend;
  params: Map<string, Handle>;
  velocity: Map<string, Handle>;
}

type TowerGrads = Map<string, Handle>;

interface Pass {
  /** Logits gathered on tower 0's backend, [N, classes]. */
  readonly logits: Handle;
  readonly backward: (dlogits: Handle, wantInput: boolean) => { grads: TowerGrads[]; dx?: Handle };
}

/** Dropout masks for a batch: 0 for a dropped unit, 1 / (1 - p) for a kept one. */
export const dropoutMasks = (spec: NetSpec, batch: number, rng: Rng): Map<string, Tensor> => {
  const masks = new Map<string, Tensor>();
  const keep = 1 - spec.dropout;
  for (const l of spec.layers) {
    if (!l.after.includes('dropout')) continue;
    const m = new Float32Array(batch * l.out);
    for (let i = 0; i < m.length; i++) m[i] = rng.bernoulli(keep) ? 1 / keep : 0;
    masks.set(l.name, Tensor.trusted([batch, l.out], m));
  }
  return masks;
};

export class Network {
  readonly rows: readonly LayerInfo[];
  /** Every cross-tower move since the log was last cleared. */
  readonly transfers: TransferLog = [];
  private readonly towers: Tower[];

  private constructor(readonly spec: NetSpec, params: Params, readonly placement: Placement) {
    this.rows = orThrow(describe(spec));
    const T = placement.length;
    this.towers = placement.map((be, t) => {
      const mine = splitParams(params, T, t);
      return {
        be,
        params: new Map([...mine].map(([n, p]) => [n, be.upload(p)])),
        velocity: new Map([...zerosLike(mine)].map(([n, p]) => [n, be.upload(p)])),
      };
    });
  }

  /** Checks the parameters against the spec and the placement's size, then uploads the parameters. */
  static create(spec: NetSpec, params: Params, placement: readonly Backend[], velocity?: Params): E.Either<AlexnetError, Network> {
    if (placement.length !== 1 && placement.length !== 2) {
      return E.left(argumentError(`a placement has one backend (one context, grouped) or two (one per tower), not ${placement.length}`));
    }
    return E.map((p: Params) => {
      const net = new Network(spec, p, placement as Placement);
      if (velocity) net.setVelocity(velocity);
      return net;
    })(checkParams(spec, params));
  }

  /** The parameters, read back and joined into the single-device layout. */
  parameters(): Params {
    return joinParams(this.towers.map((t) => new Map([...t.params].map(([n, h]) => [n, t.be.download(h)]))));
  }

  /** The SGD momentum buffers, in the same layout. */
  velocities(): Params {
    return joinParams(this.towers.map((t) => new Map([...t.velocity].map(([n, h]) => [n, t.be.download(h)]))));
  }

  private setVelocity(v: Params): void {
    orThrow(checkParams(this.spec, v));
    this.towers.forEach((tw, t) => {
      for (const [n, p] of splitParams(v, this.towers.length, t)) {
        tw.be.dispose(tw.velocity.get(n)!);
        tw.velocity.set(n, tw.be.upload(p));
      }
    });
  }

  /** Releases every device buffer the network holds. */
  dispose(): void {
    for (const t of this.towers) {
      for (const h of [...t.params.values(), ...t.velocity.values()]) t.be.dispose(h);
      t.params.clear();
      t.velocity.clear();
    }
  }

  /** Logits for a batch [N, C, H, W] (dropout off unless opts.train). */
  forward(x: Tensor, opts: PassOptions = {}): Tensor {
    return this.scoped((scope) => {
      const pass = this.pass(scope, x, opts);
      return this.towers[0].be.download(pass.logits);
    });
  }

  /** Softmax probabilities for a batch, dropout off. */
  probabilities(x: Tensor): Tensor {
    return this.scoped((scope) => {
      const pass = this.pass(scope, x, {});
      const be = scope.on(this.towers[0].be);
      const labels = new Int32Array(x.shape[0]);
      return this.towers[0].be.download(be.softmaxCrossEntropy(pass.logits, labels).probs);
    });
  }

  /** Loss, logits and every parameter's gradient, without changing the network. */
  gradients(x: Tensor, labels: Int32Array, opts: PassOptions & { wantInput?: boolean } = {}): Gradients {
    return this.scoped((scope) => {
      const { pass, loss } = this.lossOf(scope, x, labels, opts);
      const { grads, dx } = pass.backward(loss.dlogits, opts.wantInput ?? false);
      const be0 = this.towers[0].be;
      return {
        loss: loss.loss,
        logits: be0.download(pass.logits),
        probs: be0.download(loss.probs),
        grads: joinParams(grads.map((g, t) => new Map([...g].map(([n, h]) => [n, this.towers[t].be.download(h)])))),
        dx: dx ? be0.download(dx) : undefined,
      };
    });
  }

  /**
   * One step of minibatch SGD (paper section 5): forward with dropout, loss,
   * backward, and the momentum / weight-decay update of every parameter on its
   * own backend. Returns the loss and the logits (for the running error).
   */
  trainStep(x: Tensor, labels: Int32Array, sgd: SgdParams, opts: PassOptions = {}): { loss: number; logits: Tensor } {
    const scope = new Scope();
    const keep: Handle[] = [];
    try {
      const { pass, loss } = this.lossOf(scope, x, labels, { train: true, ...opts });
      // The backward pass is issued before the loss is read, so towers in other threads or
      // processes go on from forward to backward without waiting; only the update waits on the loss.
      const { grads } = pass.backward(loss.dlogits, false);
      const logits = this.towers[0].be.download(pass.logits);
      if (!Number.isFinite(loss.loss)) return { loss: loss.loss, logits };
      this.towers.forEach((tw, t) => {
        const be = scope.on(tw.be);
        for (const [n, g] of grads[t]) {
          const r = be.sgdUpdate(tw.params.get(n)!, tw.velocity.get(n)!, g, sgd);
          tw.be.dispose(tw.params.get(n)!);
          tw.be.dispose(tw.velocity.get(n)!);
          tw.params.set(n, r.w);
          tw.velocity.set(n, r.v);
          keep.push(r.w, r.v);
        }
      });
      // The step is over when every tower has run it (and a kernel that failed in one is reported here).
      for (const tw of this.towers) tw.be.sync?.();
      return { loss: loss.loss, logits };
    } finally {
      scope.close(keep);
    }
  }

  private scoped<A>(f: (scope: Scope) => A): A {
    const scope = new Scope();
    try {
      return f(scope);
    } finally {
      scope.close();
    }
  }

  private checkInput(x: Tensor, labels?: Int32Array): void {
    const want = [x.shape[0], ...this.spec.input];
    if (x.shape.length !== 4 || !sameShape(x.shape, want)) {
      orThrow(E.left(shapeError(`${this.spec.name} takes input [N, ${this.spec.input.join(', ')}], got ${shapeString(x.shape)}`)));
    }
    if (labels) {
      if (labels.length !== x.shape[0]) orThrow(E.left(shapeError(`${labels.length} labels for a batch of ${x.shape[0]} images; give one label per image`)));
      const bad = labels.findIndex((l) => l < 0 || l >= this.spec.classes);
      if (bad >= 0) orThrow(E.left(valueError(`label ${labels[bad]} of image ${bad} is outside 0..${this.spec.classes - 1}`)));
    }
  }

  private lossOf(scope: Scope, x: Tensor, labels: Int32Array, opts: PassOptions) {
    this.checkInput(x, labels);
    const pass = this.pass(scope, x, opts);
    const loss = scope.on(this.towers[0].be).softmaxCrossEntropy(pass.logits, labels);
    return { pass, loss };
  }

  /** One forward pass; its `backward` gives the gradients of every tower's parameters. */
  private pass(scope: Scope, x: Tensor, opts: PassOptions): Pass {
    this.checkInput(x);
    const T = this.towers.length;
    const raw = this.towers.map((t) => t.be);
    const bes = raw.map((b) => scope.on(b));
    const masks = opts.train
      ? opts.masks ?? dropoutMasks(this.spec, x.shape[0], opts.rng ?? new Rng(0))
      : undefined;
    const move = (h: Handle, to: number, layer: string, dir: 'forward' | 'backward') =>
      scope.adopt(transfer(h, raw[to], this.transfers, layer, dir));

    let acts: Handle[] = bes.map((be) => be.upload(x));
    const blocks: { spec: LayerSpec; pullbacks: L.Applied['pullback'][][]; sources: Handle[] }[] = [];

    for (const l of this.spec.layers) {
      const sources = acts;
      const pullbacks: L.Applied['pullback'][][] = [];
      // Where a layer reads both towers, both exchanges are issued before either tower's layer,
      // so that towers running side by side (backends/remote) need not wait for each other's layer.
      const inputs = sources.map((_, t) =>
        l.link === 'both' && T === 2 ? sources.map((s, from) => (from === t ? s : move(s, t, l.name, 'forward'))) : undefined);
      acts = bes.map((be, t) => {
        const steps: L.Applied[] = [];
        const push = (a: L.Applied) => { steps.push(a); return a.y; };
        const both = inputs[t];
        let h: Handle = both ? be.concat(both) : sources[t];
        const w = this.towers[t].params.get(weightName(l.name))!;
        const b = this.towers[t].params.get(biasName(l.name))!;
        if (l.kind === 'conv') {
          h = push(L.conv(be, { w, b }, h, { stride: l.stride, pad: l.pad, groups: T === 1 ? groupsOf(l) : 1 }));
        } else {
          h = push(L.flatten(be, h));
          h = push(L.linear(be, { w, b }, h));
        }
        for (const a of l.after) {
          if (a === 'relu') h = push(L.relu(be, h));
          else if (a === 'lrn') {
            // Normalisation stays inside a tower (the paper's GPUs each normalised their own maps).
            h = push(T === 2 ? L.lrn(be, h, this.spec.lrn) : L.lrnGrouped(be, h, this.spec.lrn, towerSplit(l.out).filter((n) => n > 0)));
          }
          else if (a === 'pool') h = push(L.maxPool(be, h, this.spec.pool));
          else if (a === 'dropout' && masks) {
            const full = masks.get(l.name)!;
            const { start, count } = towerRows(l.out, T, t);
            h = push(L.dropout(be, h, be.upload(T === 1 ? full : sliceHost(full, start, count))));
          }
        }
        pullbacks.push(steps.map((s) => s.pullback));
        return h;
      });
      blocks.push({ spec: l, pullbacks, sources });
    }

    const last = this.spec.layers[this.spec.layers.length - 1].name;
    const logits = T === 1 ? acts[0] : bes[0].concat([acts[0], move(acts[1], 0, last, 'forward')]);

    const backward = (dlogits: Handle, wantInput: boolean) => {
      const grads: TowerGrads[] = raw.map(() => new Map());
      const units = acts.map((a) => a.shape[1]);
      let d: Handle[] = T === 1
        ? [dlogits]
        : [bes[0].slice(dlogits, 0, units[0]), move(bes[0].slice(dlogits, units[0], units[1]), 1, last, 'backward')];
      blocks.slice().reverse().forEach(({ spec: l, pullbacks, sources }, k) => {
        const first = k === blocks.length - 1;
        const needInput = !first || wantInput;
        const dIn = pullbacks.map((steps, t) => {
          let g = d[t];
          for (let i = steps.length - 1; i >= 0; i--) {
            const isLearned = i === (l.kind === 'conv' ? 0 : 1);
            const r = steps[i](g, isLearned ? needInput : true);
            if (isLearned) {
              grads[t].set(weightName(l.name), r.dw!);
              grads[t].set(biasName(l.name), r.db!);
            }
            if (!r.dx) return undefined;
            g = r.dx;
          }
          return g;
        });
        if (!needInput) { d = []; return; }
        if (l.link === 'both' && T === 2) {
          // Each tower's input gradient covers both towers' maps: hand each part back to where it came from.
          const parts = sources.map(() => [] as Handle[]);
          let c0 = 0;
          sources.forEach((s, from) => {
            dIn.forEach((g, t) => {
              const part = bes[t].slice(g!, c0, s.shape[1]);
              parts[from].push(from === t ? part : move(part, from, l.name, 'backward'));
            });
            c0 += s.shape[1];
          });
          d = parts.map((ps, t) => bes[t].add(ps[0], ps[1]));
        } else if (l.link === 'input' && T === 2) {
          d = [bes[0].add(dIn[0]!, move(dIn[1]!, 0, l.name, 'backward'))];
        } else {
          d = dIn.map((g) => g!);
        }
      });
      return { grads, dx: d[0] };
    };
    return { logits, backward };
  }
}
