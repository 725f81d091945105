/** Parser directives (`# syntax=`, `# escape=`, `# check=`) and the warnings `# check=skip=` turns off. */
import { trimLeftSpace } from './chars.js';
import type { CheckDirective, Warning } from './syntax.js';

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

/** Parses the directive part of a trimmed line; undefined when the line is not a directive. */
export function matchDirective(line: string): { key: string; value: string } | undefined {
  if (!line.startsWith('#')) return undefined;
  const m = DIRECTIVE.exec(trimLeftSpace(line.slice(1)));
  if (!m) return undefined;
  const key = (m[1] as string).toLowerCase();
  if (key !== 'syntax' && key !== 'escape' && key !== 'check') return undefined;
  return { key, value: m[2] as string };
}

export function parseCheck(value: string): CheckDirective | string {
  let skipAll = false;
  let skip: string[] = [];
  let error = false;
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) return `invalid check option ${JSON.stringify(part)}`;
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (key === 'skip') {
      if (v === 'all') skipAll = true;
      else
        skip = v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
    } else if (key === 'error') {
      // Go's strconv.ParseBool.
      if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) error = true;
      else if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) error = false;
      else return `invalid value ${JSON.stringify(v)} for check option error (want true or false)`;
    } else {
      return `invalid check option ${JSON.stringify(key)}`;
    }
  }
  return { skipAll, skip, error };
}

/** Drops the warnings a `# check=skip=...` directive turned off. */
export function filterWarnings(warnings: readonly Warning[], check: CheckDirective | undefined): Warning[] {
  if (!check) return [...warnings];
  if (check.skipAll) return [];
  return warnings.filter((w) => !check.skip.includes(w.code));
}
