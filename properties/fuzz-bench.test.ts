/**
 * Fuzzed bench records, as `npm run bench -- --report --import FILE` reads
 * them (recordsIn): real records from the history, trimmed, written as the
 * page downloads them (pretty-printed), as a JSON array or one per line, then
 * damaged: bytes truncated, flipped, inserted, trailing garbage; fields set
 * to null, to the wrong type, to numbers JSON reads as Infinity, removed;
 * subjects, throughputs and kernels made null. Each answer is records that
 * pass validation and that the import can go on with (flags against each
 * other), or one ImportError line naming the file, never another exception.
 * ALEXNET_FUZZ_SCALE=10 runs ten times the cases.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImportError, recordsInText } from '../bench/history.ts';
import { type BenchRecord, figuresOf, regressions, validateRecord } from '../bench/record.ts';
import { assertOneLine, guarded, mutateAll, mutationsArb, runs } from './mutate.ts';

const FILE = 'fuzzed-record.json';
const seen = { left: 0, right: 0 };

// Real records, each cut to a few measurements and kernels so that a case costs little.
const REAL: BenchRecord[] = readFileSync('bench/history.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as BenchRecord)
  .map((r) => ({ ...r, subjects: r.subjects.slice(0, 3).map((s) => ({ ...s, throughput: s.throughput.slice(0, 2), ...(s.profile ? { profile: { ...s.profile, kernels: s.profile.kernels.slice(0, 3) } } : {}) })) }));
for (const r of REAL) assert.equal(validateRecord(r), [], 'the trimmed records are valid');

const layouts = ['pretty', 'compact', 'array', 'lines'] as const;
const write = (rs: BenchRecord[], layout: (typeof layouts)[number]): string =>
  layout === 'pretty' ? JSON.stringify(rs[0], null, 2) : layout === 'compact' ? JSON.stringify(rs[0]) : layout === 'array' ? JSON.stringify(rs) : rs.map((r) => JSON.stringify(r)).join('\n');

/** What the import does with records it accepts: every figure, and flags against the others. */
const accepted = (rs: BenchRecord[]): void => {
  for (const r of rs) {
    assert.equal(validateRecord(r), []);
    for (const s of r.subjects) figuresOf(s);
    regressions(r, rs);
  }
};

const readOne = (text: string, context: string): void => {
  const out = guarded(context, text.length * 2, () => {
    try {
      return recordsInText(text, FILE);
    } catch (e) {
      if (e instanceof ImportError) return e;
      throw e;
    }
  });
  if (out instanceof ImportError) {
    assertOneLine(out.message, `--import ${FILE}`, context);
    seen.left++;
  } else {
    accepted(out);
    seen.right++;
  }
};

const recordsArb = fc.tuple(fc.subarray(REAL, { minLength: 1, maxLength: 2 }), fc.constantFrom(...layouts));
const show = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `${x.length} bytes` : x));

test('bench records: any damage to the bytes gives valid records or one line naming the file', () => {
  fc.assert(fc.property(recordsArb, mutationsArb(), ([rs, layout], ms) => {
    const bytes = mutateAll(new TextEncoder().encode(write(rs, layout)), ms);
    readOne(new TextDecoder().decode(bytes), `${layout}, mutations ${show(ms)}`);
  }), { numRuns: runs(3000) });
});

// Damage to the meaning: a path of child indices into the record, and what to put there.
const WEIRD: unknown[] = [null, undefined, -1, 0, 1.5, 2 ** 53, 1e308, '', 'x', [], {}, true, [null], { median: 1 }];
const NUMBERS = ['1e400', '-1e400', 'NaN', 'Infinity', '-0', '9007199254740993'];

test('bench records: hostile fields (null, wrong types, removed, Infinity) give valid records or one line', () => {
  fc.assert(fc.property(recordsArb, fc.array(fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), fc.constantFrom(...WEIRD)), { minLength: 1, maxLength: 3 }), fc.option(fc.tuple(fc.nat(), fc.constantFrom(...NUMBERS)), { nil: undefined }), ([rs, layout], edits, number) => {
    const copy = structuredClone(rs) as unknown as Record<string, unknown>[];
    const labels: string[] = [];
    for (const [path, v] of edits) {
      let parent: Record<string, unknown> = copy[path[0] % copy.length];
      const trail: string[] = [];
      for (let i = 1; ; i++) {
        const keys = Object.keys(parent);
        if (keys.length === 0) break;
        const k = keys[(path[i] ?? 0) % keys.length];
        trail.push(k);
        const child = parent[k];
        if (i >= path.length - 1 || child === null || typeof child !== 'object') {
          if (v === undefined) delete parent[k]; else parent[k] = structuredClone(v); // a copy: a later edit may walk into it
          break;
        }
        parent = child as Record<string, unknown>;
      }
      labels.push(`${trail.join('.')} := ${JSON.stringify(v) ?? 'removed'}`);
    }
    let text = write(copy as unknown as BenchRecord[], layout);
    if (number) {
      let i = 0;
      text = text.replace(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g, (m) => (i++ === number[0] % 200 ? number[1] : m));
      labels.push(`number ${number[0] % 200} -> ${number[1]}`);
    }
    readOne(text, `${layout}: ${labels.join(', ')}`);
  }), { numRuns: runs(3000) });
});

test('bench records: regressions the fuzzing found', () => {
  const r = REAL[0];
  const cases: [string, unknown, RegExp][] = [
    ['a subject that is null', { ...r, subjects: [null] }, /subject 1 is not an object/],
    ['a throughput that is not a list', { ...r, subjects: [{ ...r.subjects[0], throughput: 5 }] }, /throughput is not a list of measurements/],
    ['a throughput entry that is null', { ...r, subjects: [{ ...r.subjects[0], throughput: [null] }] }, /throughput is not a list of measurements/],
    ['an unavailable subject without throughput, which the flags read', { ...r, subjects: [{ ...r.subjects[0], available: false, reason: 'x', throughput: undefined }] }, /throughput is not a list/],
    ['kernels that are not a list', { ...r, subjects: [{ ...r.subjects[0], profile: { batch: 1, syncMs: null, kernels: 3 } }] }, /profile is not a batch and a list of kernels/],
    ['a machine that is a string', { ...r, machine: 'x' }, /machine description is incomplete/],
    ['skipped missing', { ...r, subjects: [{ ...r.subjects[0], skipped: undefined }] }, /skipped is not a list/],
  ];
  for (const [label, rec, says] of cases) {
    let message = 'accepted';
    try {
      recordsInText(JSON.stringify(rec), FILE);
    } catch (e) {
      assert.instance(e, ImportError, `${label}: ${(e as Error).stack}`);
      message = (e as Error).message;
    }
    assertOneLine(message, FILE, label);
    assert.match(message, says, label);
  }
  // JSON.parse quotes the text it stopped at; a line break in it stays out of the message.
  let message = '';
  try { recordsInText('{"a":\u2028 x\u2028\u2028}', FILE); } catch (e) { message = (e as Error).message; }
  assertOneLine(message, FILE, 'quoted line separators');
  // Many problems: the first few, and how many more.
  try { recordsInText(JSON.stringify({ subjects: Array.from({ length: 50 }, () => null) }), FILE); } catch (e) { message = (e as Error).message; }
  assert.match(message, /; and \d+ more$/);
});

test('(cases read, accepted and refused)', () => {
  console.log(`  bench record fuzzing: ${seen.left + seen.right} files, ${seen.right} accepted and consistent, ${seen.left} refused in one line`);
});

test.run();
