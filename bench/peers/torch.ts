/**
 * The PyTorch peer: the project's AlexNet in PyTorch (float32, one thread per
 * core), run by a python process of its own (bench/peers/torch_bench.py),
 * which builds the network with properties/oracle/torch_alexnet.py's `AlexNet`
 * from the same layer table, with the same weights and inputs as every other
 * subject: groups of 2, LRN within each tower (PyTorch's alpha/n form converted
 * from the paper's alpha), explicit dropout masks, the paper's update.
 *
 * The worker drives the process synchronously, as it drives every subject:
 * one JSON command a line down one named pipe, one JSON reply a line back up
 * another; tensors go both ways as safetensors files in a scratch folder. A
 * pass or step is timed inside the python process (perf_counter around the
 * work alone), so the pipe's round trip is not part of any figure. OpenMP's
 * threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): on the shared
 * 2-core machine spinning waits made a pass several times slower.
 *
 * The python is the first of `python3`, `/usr/bin/python3` that imports torch
 * (ALEXNET_BENCH_PYTHON, colon-separated, replaces that list); with none the
 * subject is "not available" with TORCH_MISSING as the reason.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetSpec } from '../../core/alexnet.ts';
import type { SgdParams } from '../../core/backend.ts';
import { decodeSafetensors, encodeSafetensors } from '../../core/checkpoint.ts';
import { orThrow } from '../../core/errors.ts';
import type { Params } from '../../core/params.ts';
import { Tensor } from '../../core/tensor.ts';

export const TORCH_MISSING = 'PyTorch not installed (apt-get install python3-torch)';

const SCRIPT = fileURLToPath(new URL('./torch_bench.py', import.meta.url));

export interface TorchPython {
  readonly python: string;
  readonly version: string;
}

/** The first python that imports torch, or why there is none. */
export const findTorch = (): TorchPython | { reason: string } => {
  const env = process.env.ALEXNET_BENCH_PYTHON;
  const candidates = env ? env.split(':').filter((p) => p.length > 0) : ['python3', '/usr/bin/python3'];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return { reason: TORCH_MISSING };
};

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

interface LoadInfo {
  readonly torch: string;
  readonly python: string;
  readonly executable: string;
  readonly threads: number;
  readonly mkldnn: boolean;
  readonly parallel: string;
  readonly ompWaitPolicy: string | null;
  readonly loadMs: number;
}

export interface TorchOptions {
  readonly threads: number;
  /** Seeds the dropout masks the process draws for timed steps. */
  readonly seed: number;
  readonly sgd: SgdParams;
  /** How long the process may take to answer its first line (starting python and importing torch). */
  readonly startMs?: number;
}

/** One python process holding the network; every call blocks until it answers. */
export class TorchPeer {
  readonly info: LoadInfo;
  private readonly dir: string;
  private readonly child: ChildProcess;
  private readonly cmdFd: number;
  private readonly replyFd: number;
  private pending = '';
  private connected = false;
  private closed = false;
  private files = 0;

  private constructor(readonly python: TorchPython, readonly spec: NetSpec, params: Params, opts: TorchOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'alexnet-torch-bench-'));
    const cmd = join(this.dir, 'commands');
    const reply = join(this.dir, 'replies');
    const made = spawnSync('mkfifo', [cmd, reply], { encoding: 'utf8' });
    if (made.status !== 0) { rmSync(this.dir, { recursive: true, force: true }); throw new Error(`mkfifo failed: ${made.stderr || made.error?.message}`); }
    // Both ends open before python starts, neither open blocks: the command pipe
    // read-write (so python's open for reading returns at once), the reply pipe
    // non-blocking (so a python that never starts cannot hang the worker).
    this.cmdFd = openSync(cmd, constants.O_RDWR);
    this.replyFd = openSync(reply, constants.O_RDONLY | constants.O_NONBLOCK);
    // OpenMP threads that spin while they wait take the core their partner needs on
    // a shared machine (a batch-1 pass 2-4 times slower under load); sleeping waits
    // cost little when the machine is idle. OMP_WAIT_POLICY set by the user wins.
    const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY || 'PASSIVE' };
    this.child = spawn(python.python, [SCRIPT, cmd, reply], { stdio: ['ignore', 'inherit', 'inherit'], env });
    try {
      this.readReply(opts.startMs ?? 120_000); // hello
      const file = this.file();
      const tensors = new Map<string, Tensor>(params);
      writeFileSync(file, encodeSafetensors(tensors, { spec: JSON.stringify(spec), sgd: JSON.stringify(opts.sgd) }));
      tensors.clear();
      this.info = this.call<LoadInfo>({ op: 'load', file, threads: opts.threads, seed: opts.seed });
      rmSync(file);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  static start(python: TorchPython, spec: NetSpec, params: Params, opts: TorchOptions): TorchPeer {
    return new TorchPeer(python, spec, params, opts);
  }

  get detail(): string {
    const i = this.info;
    return `PyTorch ${i.torch} (python ${i.python}, ${i.executable}), float32, ${i.threads} thread${i.threads === 1 ? '' : 's'} (${i.parallel}${i.ompWaitPolicy ? `, OMP_WAIT_POLICY=${i.ompWaitPolicy}` : ''}; MKL-DNN ${i.mkldnn ? 'on' : 'off'}), grouped convolutions (groups=2), the network of properties/oracle/torch_alexnet.py; passes and steps timed inside the python process`;
  }

  private file(): string {
    return join(this.dir, `t${this.files++}.safetensors`);
  }

  /** Reads one reply line; a closed pipe means the process ended. */
  private readReply(timeoutMs = Infinity): unknown {
    const started = Date.now();
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const nl = this.pending.indexOf('\n');
      if (nl >= 0) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        const r = JSON.parse(line) as { ok?: unknown; error?: string };
        if (r.error !== undefined) throw new Error(`PyTorch: ${r.error}`);
        return r.ok;
      }
      let n: number;
      try {
        n = readSync(this.replyFd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        if (Date.now() - started > timeoutMs) throw new Error(`the PyTorch process did not answer within ${timeoutMs / 1000} s`);
        sleep(1);
        continue;
      }
      if (n === 0) {
        // No writer: python has not opened the pipe yet, or has ended.
        if (this.connected) throw new Error('the PyTorch process ended (its messages are above)');
        if (Date.now() - started > timeoutMs) throw new Error(`the PyTorch process did not answer within ${timeoutMs / 1000} s`);
        sleep(5);
        continue;
      }
      this.connected = true;
      this.pending += buf.toString('utf8', 0, n);
    }
  }

  private call<T>(command: Record<string, unknown>): T {
    if (this.closed) throw new Error('the PyTorch process is closed');
    writeSync(this.cmdFd, `${JSON.stringify(command)}\n`);
    return this.readReply() as T;
  }

  /** Hands tensors to the process, kept there under their names (labels as integers). */
  put(tensors: ReadonlyMap<string, Tensor>): void {
    const file = this.file();
    writeFileSync(file, encodeSafetensors(tensors, {}));
    try {
      this.call({ op: 'put', file });
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** Hands a batch over as `x.<name>` and `labels.<name>`; returns the name. */
  putBatch(name: string, x: Tensor, labels: Int32Array): string {
    this.put(new Map([[`x.${name}`, x], [`labels.${name}`, Tensor.trusted([labels.length], Float64Array.from(labels))]]));
    return name;
  }

  /** Hands dropout masks over as `<prefix><layer>`; returns the prefix. */
  putMasks(prefix: string, masks: ReadonlyMap<string, Tensor>): string {
    this.put(new Map([...masks].map(([k, v]) => [`${prefix}${k}`, v])));
    return prefix;
  }

  drop(names: readonly string[]): void {
    this.call({ op: 'drop', names });
  }

  /** One forward pass of batch `name` without gradients; the pass's milliseconds. */
  /** torch.mm of two n x n float32 matrices: the machine's product rate through PyTorch's BLAS. */
  sgemm(n: number, repeats: number): { ms: number; gflops: number; blas: string; threads: number } {
    return this.call({ op: 'sgemm', n, repeats });
  }

  inference(name: string): number {
    return this.call<{ ms: number }>({ op: 'inference', x: `x.${name}` }).ms;
  }

  /** One training step on batch `name` (masks drawn in the process unless a prefix of given ones); its milliseconds and loss. */
  train(name: string, masks: string | null = null): { ms: number; loss: number } {
    return this.call({ op: 'train', x: `x.${name}`, labels: `labels.${name}`, masks });
  }

  private readBack(op: Record<string, unknown>): Map<string, Tensor> {
    const out = this.file();
    try {
      this.call({ ...op, out });
      return new Map(orThrow(decodeSafetensors(readFileSync(out), out)).tensors);
    } finally {
      rmSync(out, { force: true });
    }
  }

  /** The logits of batch `name` (float64), with dropout masks when a prefix is given. */
  logits(name: string, masks: string | null = null): Tensor {
    return this.readBack({ op: 'logits', x: `x.${name}`, masks }).get('logits')!;
  }

  /** The current parameters (float64), all or the named ones. */
  parameters(names?: readonly string[]): Map<string, Tensor> {
    return this.readBack({ op: 'params', names: names ?? null });
  }

  close(): void {
    if (this.closed) return;
    let ended = false;
    try {
      if (this.connected) {
        this.call({ op: 'quit' });
        this.readReply(2000); // the pipe closes as the process exits
      }
    } catch (e) {
      ended = /ended/.test((e as Error).message);
    }
    this.closed = true;
    for (const fd of [this.cmdFd, this.replyFd]) { try { closeSync(fd); } catch { /* closed */ } }
    if (!ended && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
