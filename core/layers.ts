/**
 * Layers as pure functions: each takes its parameters and an input and returns
 * the output with a *pullback*, the function that turns the gradient of the
 * output into the gradients of the input and of the parameters (reverse mode,
 * as JAX's `vjp`). The arithmetic is the backend's; a layer only wires kernels.
 */
import type { Backend, ConvParams, Handle, LrnParams, PoolParams } from './backend.ts';

export interface Grads {
  /** Gradient with respect to the layer's input. Absent when not asked for. */
  readonly dx?: Handle;
  readonly dw?: Handle;
  readonly db?: Handle;
}

export interface Applied {
  readonly y: Handle;
  readonly pullback: (dy: Handle, needInput?: boolean) => Grads;
}

export interface WeightAndBias {
  readonly w: Handle;
  readonly b: Handle;
}

export const conv = (be: Backend, p: WeightAndBias, x: Handle, cp: ConvParams): Applied => ({
  y: be.conv2d(x, p.w, p.b, cp),
  pullback: (dy, needInput = true) => ({
    dx: needInput ? be.conv2dGradInput(dy, p.w, x.shape, cp) : undefined,
    dw: be.conv2dGradFilter(x, dy, p.w.shape, cp),
    db: be.biasGrad(dy),
  }),
});

export const linear = (be: Backend, p: WeightAndBias, x: Handle): Applied => ({
  y: be.linear(x, p.w, p.b),
  pullback: (dy, needInput = true) => ({
    dx: needInput ? be.linearGradInput(dy, p.w) : undefined,
    dw: be.linearGradWeight(x, dy),
    db: be.biasGrad(dy),
  }),
});

export const relu = (be: Backend, x: Handle): Applied => {
  const y = be.relu(x);
  return { y, pullback: (dy) => ({ dx: be.reluGrad(y, dy) }) };
};

export const lrn = (be: Backend, x: Handle, lp: LrnParams): Applied => ({
  y: be.lrn(x, lp),
  pullback: (dy) => ({ dx: be.lrnGrad(x, dy, lp) }),
});

/**
 * LRN applied to each channel group apart: the window never reaches across a
 * group boundary. With two towers on one device this keeps the normalisation
 * inside each tower, as on the paper's two GPUs.
 */
export const lrnGrouped = (be: Backend, x: Handle, lp: LrnParams, sizes: readonly number[]): Applied => {
  if (sizes.length === 1) return lrn(be, x, lp);
  const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const parts = sizes.map((n, i) => be.slice(x, starts[i], n));
  return {
    y: be.concat(parts.map((part) => be.lrn(part, lp))),
    pullback: (dy) => ({
      dx: be.concat(parts.map((part, i) => be.lrnGrad(part, be.slice(dy, starts[i], sizes[i]), lp))),
    }),
  };
};

export const maxPool = (be: Backend, x: Handle, pp: PoolParams): Applied => ({
  y: be.maxPool(x, pp),
  pullback: (dy) => ({ dx: be.maxPoolGrad(x, dy, pp) }),
});

export const dropout = (be: Backend, x: Handle, mask: Handle): Applied => ({
  y: be.dropout(x, mask),
  pullback: (dy) => ({ dx: be.dropoutGrad(dy, mask) }),
});

/** [N, C, H, W] -> [N, C*H*W] (channel-major, so the towers' maps concatenate then flatten). */
export const flatten = (be: Backend, x: Handle): Applied => {
  if (x.shape.length === 2) return { y: x, pullback: (dy) => ({ dx: dy }) };
  const [N, ...rest] = x.shape;
  return {
    y: be.reshape(x, [N, rest.reduce((a, b) => a * b, 1)]),
    pullback: (dy) => ({ dx: be.reshape(dy, x.shape) }),
  };
};

/** Runs layers one after another; the pullback runs their pullbacks in reverse. */
export const chain = (steps: readonly ((x: Handle) => Applied)[]) => (x: Handle): Applied => {
  const applied: Applied[] = [];
  let y = x;
  for (const s of steps) {
    const a = s(y);
    applied.push(a);
    y = a.y;
  }
  return {
    y,
    pullback: (dy) => {
      let g = dy;
      for (let i = applied.length - 1; i >= 0; i--) g = applied[i].pullback(g).dx!;
      return { dx: g };
    },
  };
};
