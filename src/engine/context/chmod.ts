/**
 * `COPY --chmod` values: octal (`755`, `0644`) replaces the permission bits; symbolic notation as
 * chmod(1) writes it (`+x`, `u=rwX,go=rX`, `g=u`) edits them per file, `X` meaning execute for
 * directories and for files that already have an execute bit. No umask applies: a build is not a shell.
 */
import { GantryError } from '../../errors.js';

/** New permission bits (07777) for an entry with `mode`; `isDir` matters for `X`. */
export type ChmodFunction = (mode: number, isDir: boolean) => number;

const WHO: Readonly<Record<string, number>> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

function invalid(spec: string): GantryError {
  return new GantryError('INVALID_CHMOD', `invalid --chmod value ${JSON.stringify(spec)}`, {
    phase: 'parse',
    suggestion: 'use octal such as 755 or 0644, or chmod(1) symbolic notation such as u=rwX,go=rX or +x',
  });
}

interface Clause {
  readonly who: number;
  readonly ops: readonly { readonly op: '+' | '-' | '='; readonly perms: string }[];
}

function parseClause(text: string, spec: string): Clause {
  const m = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/.exec(text);
  if (!m) throw invalid(spec);
  const whoText = m[1] ?? '';
  let who = 0;
  for (const c of whoText === '' ? 'a' : whoText) who |= WHO[c] as number;
  const ops: { op: '+' | '-' | '='; perms: string }[] = [];
  for (const part of (m[2] ?? '').matchAll(/([-+=])([ugo]|[rwxXst]*)/g)) {
    ops.push({ op: part[1] as '+' | '-' | '=', perms: part[2] ?? '' });
  }
  return { who, ops };
}

function bitsFor(perms: string, mode: number, isDir: boolean): number {
  if (perms === 'u' || perms === 'g' || perms === 'o') {
    const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
    const b = (mode >> shift) & 7;
    return (b << 6) | (b << 3) | b;
  }
  let bits = 0;
  for (const c of perms) {
    if (c === 'r') bits |= 0o444;
    else if (c === 'w') bits |= 0o222;
    else if (c === 'x') bits |= 0o111;
    else if (c === 'X' && (isDir || (mode & 0o111) !== 0)) bits |= 0o111;
    else if (c === 's') bits |= 0o6000;
    else if (c === 't') bits |= 0o1000;
  }
  return bits;
}

/** Parses a `--chmod` value; throws GantryError 'INVALID_CHMOD'. */
export function parseChmod(spec: string | number): ChmodFunction {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec) || spec < 0 || spec > 0o7777) throw invalid(String(spec));
    return () => spec;
  }
  const text = spec.trim();
  if (/^[0-7]{1,4}$/.test(text)) {
    const mode = Number.parseInt(text, 8);
    return () => mode;
  }
  if (text === '') throw invalid(spec);
  const clauses = text.split(',').map((c) => parseClause(c, spec));
  return (start: number, isDir: boolean): number => {
    let mode = start & 0o7777;
    for (const { who, ops } of clauses) {
      for (const { op, perms } of ops) {
        const bits = bitsFor(perms, mode, isDir) & who;
        if (op === '+') mode |= bits;
        else if (op === '-') mode &= ~bits;
        else mode = (mode & ~who) | bits;
      }
    }
    return mode;
  };
}
