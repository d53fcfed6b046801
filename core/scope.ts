/**
 * Deterministic release of device memory. A `Scope` wraps backends so that every
 * handle their kernels return is recorded; `close(keep)` disposes all of them
 * but the ones kept. One training step runs inside one scope, so memory after
 * step 1000 equals memory after step 10.
 */
import type { Backend, Handle } from './backend.ts';

const isHandle = (v: unknown): v is Handle =>
  typeof v === 'object' && v !== null && 'owner' in v && 'shape' in v;

export class Scope {
  private readonly made = new Set<Handle>();
  private readonly wrapped = new Map<Backend, Backend>();

  /** The backend as seen through this scope: same kernels, results recorded. */
  on(b: Backend): Backend {
    const seen = this.wrapped.get(b);
    if (seen) return seen;
    const record = (v: unknown): void => {
      if (isHandle(v)) this.made.add(v);
      else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) if (isHandle(x)) this.made.add(x);
    };
    const proxy = new Proxy(b, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || prop === 'dispose' || prop === 'download' || prop === 'liveCount') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return (...args: unknown[]) => {
          const r = value.apply(target, args);
          record(r);
          return r;
        };
      },
    });
    this.wrapped.set(b, proxy);
    return proxy;
  }

  /** Records a handle made outside the scope's backends (an upload, a transfer). */
  adopt<H extends Handle>(h: H): H {
    this.made.add(h);
    return h;
  }

  /** Disposes every recorded handle except those in `keep`. */
  close(keep: Iterable<Handle> = []): void {
    const kept = new Set(keep);
    for (const h of this.made) if (!kept.has(h)) h.owner.dispose(h);
    this.made.clear();
  }
}
