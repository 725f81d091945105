/**
 * One logical line -> keyword, flags and arguments, split the way BuildKit's line parsers split
 * them (JSON form or shell form, name=value pairs, whitespace lists); unknown keywords refused.
 */
import { isSpace, trimLeftSpace, trimSpace } from './chars.js';
import type { SyntaxErrorKind } from './errors.js';
import { closest, extractFlags } from './flags.js';

export const INSTRUCTIONS = [
  'add',
  'arg',
  'cmd',
  'copy',
  'entrypoint',
  'env',
  'expose',
  'from',
  'healthcheck',
  'label',
  'maintainer',
  'onbuild',
  'run',
  'shell',
  'stopsignal',
  'user',
  'volume',
  'workdir',
] as const;

const KNOWN = new Set<string>(INSTRUCTIONS);
const WHITESPACE = /[\t\v\f\r ]+/;

export interface Draft {
  keyword: string;
  flags: string[];
  args: string[];
  rest: string;
  json: boolean;
  trigger?: Draft;
}

/** Problems found while splitting one logical line; the caller turns them into positioned errors. */
export class LineError extends Error {
  readonly kind: SyntaxErrorKind;
  /** Text to look for in the source to find the column. */
  readonly needle: string | undefined;
  readonly suggestion: string | undefined;
  constructor(kind: SyntaxErrorKind, message: string, needle?: string, suggestion?: string) {
    super(message);
    this.kind = kind;
    this.needle = needle;
    this.suggestion = suggestion;
  }
}

const NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';

/** JSON array of strings -> items; undefined when the text is not a JSON array (shell form). */
function parseJSONArray(rest: string): string[] | undefined {
  const text = trimLeftSpace(rest);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((v) => typeof v === 'string')) throw new LineError('json', NOT_STRINGS, '[');
  return value as string[];
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(WHITESPACE);
}

/** Words separated by unquoted whitespace; quotes and escapes are kept for later expansion. */
function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        pos++;
        ch = chars[pos] as string;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos] as string;
    }
    word += ch;
  }
  return words;
}

/** ENV and LABEL: `name=value ...`, or the legacy `name value` (one pair, the value verbatim). */
function parseNameValue(rest: string, keyword: string, escape: string): { args: string[]; legacy: boolean } {
  const words = parseWords(rest, escape);
  if (words.length === 0) return { args: [], legacy: false };
  if (!(words[0] as string).includes('=')) {
    const m = WHITESPACE.exec(rest);
    if (!m) throw new LineError('arguments', `${keyword.toUpperCase()} must have two arguments`);
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length)], legacy: true };
  }
  const args: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) {
      throw new LineError(
        'arguments',
        `can't find = in ${JSON.stringify(w)}; ${keyword.toUpperCase()} takes name=value pairs`,
        w,
        'write each pair as name=value, quoting values that contain spaces',
      );
    }
    args.push(w.slice(0, eq), w.slice(eq + 1));
  }
  return { args, legacy: false };
}

function splitCommand(line: string, escape: string): { keyword: string; flags: string[]; rest: string } {
  const text = trimSpace(line);
  const m = WHITESPACE.exec(text);
  const keyword = (m ? text.slice(0, m.index) : text).toLowerCase();
  if (!m) return { keyword, flags: [], rest: '' };
  const { flags, rest } = extractFlags(text.slice(m.index + m[0].length), escape);
  return { keyword, flags, rest: trimSpace(rest) };
}

export function draftNode(line: string, escape: string, legacy: { value: boolean }): Draft {
  const { keyword, flags, rest } = splitCommand(line, escape);
  const draft: Draft = { keyword, flags, args: [], rest, json: false };
  const word = trimSpace(line).split(WHITESPACE)[0] ?? '';
  if (!KNOWN.has(keyword)) {
    const near = closest(keyword, INSTRUCTIONS);
    throw new LineError(
      'unknown-instruction',
      `unknown instruction ${JSON.stringify(word)}`,
      word,
      near
        ? `did you mean ${near.toUpperCase()}?`
        : `use one of ${INSTRUCTIONS.map((i) => i.toUpperCase()).join(', ')}`,
    );
  }
  const maybeJSON = (toList: boolean): void => {
    const items = parseJSONArray(rest);
    if (items) {
      draft.args = items;
      draft.json = true;
    } else if (toList) {
      draft.args = splitWhitespace(rest);
    } else if (rest !== '') {
      draft.args = [rest];
    }
  };
  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume':
      maybeJSON(true);
      break;
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      maybeJSON(false);
      break;
    case 'arg':
      draft.args = parseWords(rest, escape);
      break;
    case 'env':
    case 'label': {
      const kv = parseNameValue(rest, keyword, escape);
      draft.args = kv.args;
      if (kv.legacy) legacy.value = true;
      break;
    }
    case 'expose':
    case 'from':
      draft.args = splitWhitespace(rest);
      break;
    case 'healthcheck': {
      const m = WHITESPACE.exec(rest);
      if (rest === '') break;
      const type = m ? rest.slice(0, m.index) : rest;
      const command = m ? rest.slice(m.index + m[0].length) : '';
      draft.args = [type];
      const items = command === '' ? undefined : parseJSONArray(command);
      if (items) {
        draft.args.push(...items);
        draft.json = true;
      } else if (command !== '') {
        draft.args.push(command);
      }
      break;
    }
    case 'onbuild':
      if (rest !== '') {
        const trigger = draftNode(rest, escape, legacy);
        draft.trigger = trigger;
        draft.args = [trigger.keyword, ...trigger.args];
      }
      break;
    default:
      // maintainer, stopsignal, user, workdir: the whole text is the one argument.
      if (rest !== '') draft.args = [rest];
  }
  return draft;
}
