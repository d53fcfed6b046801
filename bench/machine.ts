/**
 * Where a run happened: the machine description that goes into every record,
 * and the commit of the tree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import { createGl, describeGl } from './gl.ts';
import type { Machine } from './record.ts';

const run = (cmd: string, args: string[]): string | null => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
};

export const gitCommit = (): { commit: string; dirty: boolean } => {
  const commit = run('git', ['rev-parse', '--short=12', 'HEAD']) ?? 'unknown';
  const status = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status !== null && status.length > 0 };
};

const osName = (): string => {
  let distro = '';
  if (existsSync('/etc/os-release')) {
    const m = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?/m);
    if (m) distro = m[1];
  }
  return `${distro || os.type()} (${os.type()} ${os.release()} ${os.arch()})`;
};

export const loadNow = (): number => Number(os.loadavg()[0].toFixed(2));

/** The machine as the record describes it; `gl` is probed with a 1x1 headless-gl context. */
export const describeMachine = (loadStart: number): Omit<Machine, 'load'> & { load: { start: number; end: number } } => {
  const cpus = os.cpus();
  const cpu = (cpus[0]?.model ?? 'unknown CPU').trim();
  const cores = cpus.length;
  const made = createGl(1, 1);
  const gl = 'gl' in made ? describeGl(made.gl) : null;
  if ('gl' in made) (made.gl.getExtension('STACKGL_destroy_context') as { destroy?: () => void } | null)?.destroy?.();
  return {
    key: `${cpu} x${cores} | ${gl ?? 'no GL'}`,
    cpu,
    cores,
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    os: osName(),
    node: process.version,
    gl,
    ...(gl === null ? { glNote: (made as { error: string }).error } : {}),
    load: { start: loadStart, end: loadStart },
  };
};
