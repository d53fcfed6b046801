/** `alexnet info`: the table and its errors, as a user sees them. */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const alexnet = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'cli/alexnet.ts', ...args], { encoding: 'utf8' });

test('info prints every layer with its shapes, parameters and multiply-adds, and the totals', () => {
  const r = alexnet('info');
  assert.is(r.status, 0, r.stderr);
  for (const s of ['55x55x96 -> 27x27x96', '27x27x256 -> 13x13x256', '13x13x384', '13x13x256 -> 6x6x256', '37,752,832', '60,965,224', '724,406,816', 'reads both towers', 'own tower']) {
    assert.ok(r.stdout.includes(s), `output should contain ${s}`);
  }
});

test('info --model with an unknown name: one clear line and a non-zero exit', () => {
  const r = alexnet('info', '--model', 'lenet');
  assert.is.not(r.status, 0);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, "unknown model 'lenet'; choose one of: alexnet, alexnet-mini");
});

test('a bad flag is one line naming it, not a stack trace', () => {
  const r = alexnet('info', '--modle', 'alexnet');
  assert.is.not(r.status, 0);
  assert.match(r.stderr, "'--modle'");
  assert.not.match(r.stderr, '    at ');
});

test.run();
