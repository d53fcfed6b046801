/**
 * Device memory and traffic of a training run on gpu.js, for a small network
 * with AlexNet's structure on two contexts:
 *
 * - the device-memory count after 200 training steps equals the count after
 *   10: live handles, GL textures (kernel-owned ones included) and compiled
 *   kernels, on each context;
 * - a step reads back only what it must: one download per tower exchange, the
 *   logits, and the loss; nothing else leaves the device;
 * - disposing the network gives back every handle it made.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type NetSpec, PAPER_LRN, PAPER_POOL } from '../core/alexnet.ts';
import { orThrow } from '../core/errors.ts';
import { Network } from '../core/net.ts';
import { initParams } from '../core/params.ts';
import { Rng } from '../core/rng.ts';
import { Tensor } from '../core/tensor.ts';
import type { GpuBackend } from '../backends/gpujs/index.ts';
import { MAX_CACHED_KERNELS } from '../backends/gpujs/device.ts';
import { gpuBackend, gpuTest, planFor, PROPERTY_MODES, report } from './gl.ts';

/** Eight learned layers, two towers, LRN, overlapping pooling and dropout, at 3 x 19 x 19. */
const small: NetSpec = {
  name: 'small',
  input: [3, 19, 19],
  classes: 5,
  lrn: PAPER_LRN,
  pool: PAPER_POOL,
  dropout: 0.5,
  initStd: 0.1,
  layers: [
    { kind: 'conv', name: 'conv1', out: 8, kernel: 3, stride: 1, pad: 1, link: 'input', after: ['relu', 'lrn', 'pool'], biasInit: 0 },
    { kind: 'conv', name: 'conv2', out: 8, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu', 'lrn', 'pool'], biasInit: 1 },
    { kind: 'conv', name: 'conv3', out: 12, kernel: 3, stride: 1, pad: 1, link: 'both', after: ['relu'], biasInit: 0 },
    { kind: 'conv', name: 'conv4', out: 12, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu'], biasInit: 1 },
    { kind: 'conv', name: 'conv5', out: 8, kernel: 3, stride: 1, pad: 1, link: 'own', after: ['relu', 'pool'], biasInit: 1 },
    { kind: 'fc', name: 'fc6', out: 16, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc7', out: 16, link: 'both', after: ['relu', 'dropout'], biasInit: 1 },
    { kind: 'fc', name: 'fc8', out: 5, link: 'both', after: [], biasInit: 0 },
  ],
};

const BATCH = 4;
const STEPS = 200;
const SGD = { lr: 0.01, momentum: 0.9, weightDecay: 0.0005 };

interface Count { readonly live: number; readonly textures: number | null; readonly kernels: number }
const countOf = (b: GpuBackend): Count => ({ live: b.liveCount(), textures: b.textureCount(), kernels: b.kernelCount() });
const show = (c: Count) => `${c.live} handles, ${c.textures === null ? 'no GL textures (host memory)' : `${c.textures} GL textures`}, ${c.kernels} kernels`;

const S = suite('gpu.js device memory and readbacks during training');

for (const mode of PROPERTY_MODES) {
  const plan = planFor(mode);
  gpuTest(S, plan, `device memory after ${STEPS} training steps equals that after 10; readbacks only at exchanges, logits and loss`, () => {
    const bs = [gpuBackend(mode, `gpu.js ${mode} #0`), gpuBackend(mode, `gpu.js ${mode} #1`)];
    try {
      const empty = bs.map(countOf);
      const net = orThrow(Network.create(small, initParams(small, 3), bs));
      const rng = new Rng(11);
      const data = Array.from({ length: 4 }, (_, i) => ({
        x: Tensor.trusted([BATCH, ...small.input], Float32Array.from({ length: BATCH * 3 * 19 * 19 }, () => rng.normal())),
        labels: Int32Array.from({ length: BATCH }, (_, n) => (i + n) % small.classes),
      }));
      let after10: Count[] = [];
      const losses: number[] = [];
      for (let step = 1; step <= STEPS; step++) {
        const { x, labels } = data[step % data.length];
        const before = bs.map((b) => b.stats());
        const moved = net.transfers.length;
        const { loss } = net.trainStep(x, labels, SGD, { rng: rng.derive(`step ${step}`) });
        losses.push(loss);
        const transfers = net.transfers.length - moved;
        const downloads = bs.reduce((s, b, i) => s + b.stats().downloads - before[i].downloads, 0);
        // One download per transfer, the logits, and the loss; nothing else.
        assert.is(downloads, transfers + 2, `step ${step}: ${downloads} readbacks, expected ${transfers} exchanges + logits + loss`);
        if (step === 10) after10 = bs.map(countOf);
      }
      const after200 = bs.map(countOf);
      bs.forEach((b, i) => {
        report(b.mode, `${b.name}: after 10 steps ${show(after10[i])}; after ${STEPS} ${show(after200[i])}`);
        assert.equal(after200[i], after10[i], `${b.name}: device memory grew between step 10 and step ${STEPS}`);
      });
      assert.ok(losses.every(Number.isFinite), 'every loss is finite');
      net.dispose();
      bs.forEach((b, i) => assert.is(b.liveCount(), empty[i].live, `${b.name}: handles left after the network was disposed`));
      report(bs[0].mode, `loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)} over ${STEPS} steps; every handle returned on dispose`);
    } finally {
      for (const b of bs) b.destroy();
    }
  });
}

// Off GL every compiled kernel holds a WebAssembly.Memory, and a process can
// reserve only about ten thousand: the device keeps the most recently used
// MAX_CACHED_KERNELS and compiles an evicted one again when its shape returns.
if (PROPERTY_MODES.includes('webasm')) {
  gpuTest(S, planFor('webasm'), `a webasm device keeps at most ${MAX_CACHED_KERNELS} compiled kernels, and an evicted kernel's shape still computes`, () => {
    const b = gpuBackend('webasm', 'gpu.js webasm (kernel cache)');
    try {
      const relu = (n: number) => {
        const x = Tensor.trusted([1, n], Float32Array.from({ length: n }, (_, i) => i - n / 2));
        const h = b.upload(x);
        const y = b.relu(h);
        const got = b.download(y).data;
        b.dispose(h);
        b.dispose(y);
        return got.every((v, i) => v === Math.max(0, x.data[i]));
      };
      for (let n = 1; n <= MAX_CACHED_KERNELS + 40; n++) assert.ok(relu(n), `relu on ${n} values`);
      assert.ok(b.kernelCount() <= MAX_CACHED_KERNELS, `${b.kernelCount()} kernels kept`);
      assert.ok(relu(1), 'the first shape, evicted long ago, computes again');
      report(b.mode, `${MAX_CACHED_KERNELS + 40} shapes of relu: ${b.kernelCount()} kernels kept`);
    } finally {
      b.destroy();
    }
  });
}

S.run();
