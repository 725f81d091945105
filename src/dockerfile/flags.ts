/**
 * Instruction flags (`COPY --from=build --chown=app:app ...`): splitting them off the front of an
 * instruction's arguments the way BuildKit's parser does, and checking them against the flags an
 * instruction accepts (unknown, duplicated, missing a value, not a boolean).
 */
import { isSpace } from './chars.js';

/**
 * Takes the leading `--flag[=value]` words off `text` and returns them with the rest. A word
 * ends at unquoted whitespace; quotes are removed and the file's escape character (`\` unless
 * `# escape=` says otherwise) escapes the next one, as current BuildKit splits flags (older
 * BuildKit, and buildah 1.28's vendored parser, always used a backslash, so
 * `COPY --chown=C:\x` meant something else after `# escape=\``). A lone `--` ends the flags.
 */
export function extractFlags(text: string, escape = '\\'): { flags: string[]; rest: string } {
  const flags: string[] = [];
  const chars = Array.from(text);
  let offset = 0; // code-unit offset of chars[pos], to slice the rest
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    const ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isSpace(ch)) {
        offset += ch.length;
        continue;
      }
      if (ch !== '-' || chars[pos + 1] !== '-') return { flags, rest: text.slice(offset) };
      phase = 'word';
    }
    if (pos === chars.length) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { flags, rest: text.slice(offset) };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        offset += ch.length;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        offset += ch.length;
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) {
          offset += ch.length;
          continue;
        }
        offset += ch.length;
        pos++;
      }
      const c = chars[pos] as string;
      word += c;
      offset += c.length;
      continue;
    }
    // inside quotes
    if (ch === quote) {
      phase = 'word';
      offset += ch.length;
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === chars.length) {
        phase = 'word';
        offset += ch.length;
        continue;
      }
      offset += ch.length;
      pos++;
    }
    const c = chars[pos] as string;
    word += c;
    offset += c.length;
  }
  return { flags, rest: '' };
}

export type FlagType = 'bool' | 'string' | 'strings';

/** The flags an instruction accepts, by name without the dashes. */
export type FlagSpec = Readonly<Record<string, FlagType>>;

export interface ParsedFlags {
  readonly bools: ReadonlyMap<string, boolean>;
  readonly strings: ReadonlyMap<string, string>;
  readonly lists: ReadonlyMap<string, readonly string[]>;
}

/** A flag problem: `flag` is the flag's name as written, to point at it in the source. */
export class FlagError extends Error {
  readonly flag: string;
  readonly suggestion: string | undefined;
  constructor(message: string, flag: string, suggestion?: string) {
    super(message);
    this.flag = flag;
    this.suggestion = suggestion;
  }
}

/** Checks raw `--name[=value]` words against `spec`, the way BuildKit's BFlags does. */
export function parseFlags(raw: readonly string[], spec: FlagSpec, instruction: string): ParsedFlags {
  const bools = new Map<string, boolean>();
  const strings = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const arg of raw) {
    if (!arg.startsWith('--')) throw new FlagError(`flag should start with --: ${arg}`, arg);
    if (arg === '--') break;
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (type === undefined) {
      const known = Object.keys(spec);
      const near = closest(name, known);
      throw new FlagError(
        `unknown flag --${name} for ${instruction}`,
        arg,
        near
          ? `did you mean --${near}?`
          : known.length
            ? `${instruction} accepts ${known.map((k) => `--${k}`).join(', ')}`
            : `${instruction} takes no flags`,
      );
    }
    if (seen.has(name) && type !== 'strings') throw new FlagError(`duplicate flag specified: --${name}`, arg);
    seen.add(name);
    switch (type) {
      case 'bool': {
        if (value === '') throw new FlagError(`missing a value on flag: --${name}`, arg);
        const v = (value ?? 'true').toLowerCase();
        if (v !== 'true' && v !== 'false') {
          throw new FlagError(`expecting boolean value for flag --${name}, not: ${value}`, arg);
        }
        bools.set(name, v === 'true');
        break;
      }
      case 'string':
        if (value === undefined) throw new FlagError(`missing a value on flag: --${name}`, arg);
        strings.set(name, value);
        break;
      case 'strings': {
        if (value === undefined) throw new FlagError(`missing a value on flag: --${name}`, arg);
        const list = lists.get(name) ?? [];
        list.push(value);
        lists.set(name, list);
        break;
      }
    }
  }
  return { bools, strings, lists };
}

/**
 * Optimal-string-alignment distance (Levenshtein plus adjacent transposition), so that the
 * common slips (FORM for FROM, --form for --from) are one edit away.
 */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) =>
    Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      let best = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (d[m] as number[])[n] as number;
}

/** The candidate nearest to `word` if it is a plausible typo of it (at most 2 edits). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best !== undefined && bestDistance <= 2 && bestDistance < w.length ? best : undefined;
}
