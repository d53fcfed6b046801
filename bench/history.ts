/**
 * The history file: one `BenchRecord` per line, appended by every run of
 * `npm run bench` and by `--import`, which takes in records made elsewhere
 * (the browser page's downloads, another machine's history).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { excerpt } from '../core/errors.ts';
import { type BenchRecord, regressions, sameRun, validateRecord } from './record.ts';

export const readHistory = (file: string): BenchRecord[] => {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as BenchRecord;
      } catch (e) {
        throw new Error(`${file}, line ${i + 1}: not a JSON record (${excerpt((e as Error).message, 160)})`);
      }
    });
};

export const appendRecord = (file: string, r: BenchRecord): void => {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, JSON.stringify(r) + '\n');
};

/** A file given to `--import` that holds no valid record; the message is one line naming the file. */
export class ImportError extends Error {}

/** A parser's complaint in one short line: JSON.parse quotes the text it stopped at, line breaks and all. */
const firstLine = (e: unknown) => excerpt((e as Error).message.split('\n')[0], 160);

/** How many problems of a record an import error lists before it says how many more there are. */
const SHOWN = 3;

/**
 * The records of one file: a single JSON record (as the page downloads it,
 * pretty-printed or not), a JSON array of records, or one record per line.
 */
export const recordsIn = (file: string): BenchRecord[] => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ImportError(`--import ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? firstLine(e)})`);
  }
  return recordsInText(text, file);
};

/** The records of a file's text (see recordsIn); `file` names it in the one-line ImportError that refuses it. */
export const recordsInText = (text: string, file: string): BenchRecord[] => {
  const trimmed = text.trim();
  if (trimmed === '') throw new ImportError(`--import ${file}: the file is empty; it should hold a bench record (JSON)`);
  let records: unknown[];
  try {
    const whole: unknown = JSON.parse(trimmed);
    records = Array.isArray(whole) ? whole : [whole];
  } catch (whole) {
    const lines = trimmed.split('\n');
    if (lines.length === 1) throw new ImportError(`--import ${file}: not JSON (${firstLine(whole)})`);
    records = lines.flatMap((l, i) => {
      if (l.trim() === '') return [];
      try {
        return [JSON.parse(l) as unknown];
      } catch (e) {
        throw new ImportError(`--import ${file}, line ${i + 1}: not JSON (${firstLine(e)})`);
      }
    });
  }
  if (records.length === 0) throw new ImportError(`--import ${file}: no record in it`);
  records.forEach((r, i) => {
    const problems = validateRecord(r);
    if (problems.length > 0) {
      const more = problems.length > SHOWN ? `; and ${problems.length - SHOWN} more` : '';
      throw new ImportError(`--import ${file}${records.length > 1 ? `, record ${i + 1}` : ''}: not a valid bench record: ${problems.slice(0, SHOWN).join('; ')}${more}`);
    }
  });
  return records as BenchRecord[];
};

/**
 * Appends the records of `files` to the history, each with its flags computed
 * against the records of the history that came before it, and skips a record
 * whose run is there already. Every file is read and checked before anything
 * is appended, so a bad file leaves the history as it was. Returns a line per record.
 */
export const importRecords = (files: readonly string[], history: string): string[] => {
  const incoming = files.flatMap((file) => recordsIn(file).map((record) => ({ file, record })));
  const known = readHistory(history);
  const lines: string[] = [];
  for (const { file, record } of incoming) {
    const what = `the record of ${record.date} (commit ${record.commit}, ${record.machine.key})`;
    if (known.some((r) => sameRun(r, record))) {
      lines.push(`${file}: ${what} is in the history already; skipped`);
      continue;
    }
    const before = known.filter((r) => r.date < record.date);
    const withFlags: BenchRecord = { ...record, flags: regressions(record, before) };
    appendRecord(history, withFlags);
    known.push(withFlags);
    lines.push(`${file}: appended ${what}${withFlags.flags.length ? `, ${withFlags.flags.length} figure(s) more than 10% below the previous record of that machine` : ''}`);
  }
  return lines;
};
