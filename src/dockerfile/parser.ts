/**
 * The Dockerfile syntax tree: parser directives at the top (`syntax`, `escape`, `check`), logical
 * lines joined from continuations, comments and empty continuation lines dropped (with a
 * warning), heredoc bodies attached to RUN/COPY/ADD (also under ONBUILD), instruction flags split
 * off, and each instruction's arguments split the way BuildKit's line parsers split them (JSON
 * form or shell form, name=value pairs, whitespace lists). Pure: text in, tree out. Unknown
 * instructions are refused here with a near-miss suggestion; the typed checks of each
 * instruction's arguments are in instructions.ts.
 */
import { columnOf, isSpace, trimLeftSpace, trimSpace } from './chars.js';
import { DockerfileSyntaxError, type SourcePosition, type SyntaxErrorKind } from './errors.js';
import { closest, extractFlags } from './flags.js';
import { type EscapeChar, processWord } from './shell.js';

/** A heredoc attached to an instruction: `<<EOF`, `<<-EOF` (chomp), `<<"EOF"` (no expansion). */
export interface Heredoc {
  readonly name: string;
  /** The body as written, each line with its line ending; leading tabs are kept even for `<<-`. */
  readonly content: string;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  readonly expand: boolean;
  /** True for `<<-`: leading tabs of the body lines are to be stripped. */
  readonly chomp: boolean;
}

export interface Node {
  /** The instruction keyword, lowercased. */
  readonly keyword: string;
  /** Leading `--name[=value]` words, quotes removed. */
  readonly flags: readonly string[];
  /**
   * The arguments as the keyword's line parser splits them: JSON array items; `name, value`
   * pairs for ENV and LABEL; words (quotes kept) for ARG; whitespace-separated words for FROM,
   * EXPOSE and the shell form of COPY, ADD and VOLUME; `type` then the command for HEALTHCHECK;
   * the whole argument text as one item for everything else.
   */
  readonly args: readonly string[];
  /** The argument text after the flags. */
  readonly rest: string;
  /** True when the arguments were a JSON array (exec form). */
  readonly json: boolean;
  readonly heredocs: readonly Heredoc[];
  /** ONBUILD's instruction. */
  readonly trigger?: Node;
  /** First and last physical line (1-based), heredoc bodies included. */
  readonly startLine: number;
  readonly endLine: number;
  /** The logical line: continuations joined, comments dropped, leading whitespace trimmed. */
  readonly original: string;
}

/** How BuildKit's linter is told to behave: `# check=skip=RuleA,RuleB;error=true`. */
export interface CheckDirective {
  readonly skipAll: boolean;
  readonly skip: readonly string[];
  readonly error: boolean;
}

export interface Directives {
  readonly escape: EscapeChar;
  readonly syntax?: string;
  readonly check?: CheckDirective;
}

export interface Warning {
  /** BuildKit's rule name, e.g. `NoEmptyContinuation`. */
  readonly code: string;
  readonly message: string;
  readonly line: number;
}

/** The file the tree came from, for positions in later errors. */
export interface SourceText {
  readonly file: string;
  readonly lines: readonly string[];
}

export interface ParseResult {
  readonly ast: readonly Node[];
  readonly directives: Directives;
  readonly warnings: readonly Warning[];
  readonly source: SourceText;
}

export interface ParseOptions {
  /** Name used in error messages; default `Dockerfile`. */
  readonly file?: string;
}

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
const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);
const WHITESPACE = /[\t\v\f\r ]+/;
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;
const CONTINUATION: Record<EscapeChar, RegExp> = {
  '\\': /([^\\])\\[ \t]*$|^\\[ \t]*$/,
  '`': /([^`])`[ \t]*$|^`[ \t]*$/,
};

/** Splits text into lines that keep their line endings (the heredoc bodies need them). */
function scanLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    lines.push(text.slice(start, end));
    start = end;
  }
  return lines;
}

function trimNewline(line: string): string {
  return line.replace(/[\r\n]+$/, '');
}

function isComment(line: string): boolean {
  return trimLeftSpace(trimNewline(line)).startsWith('#');
}

/** Parses the directive part of a trimmed line; undefined when the line is not a directive. */
function matchDirective(line: string): { key: string; value: string } | undefined {
  if (!line.startsWith('#')) return undefined;
  const m = DIRECTIVE.exec(trimLeftSpace(line.slice(1)));
  if (!m) return undefined;
  const key = (m[1] as string).toLowerCase();
  if (key !== 'syntax' && key !== 'escape' && key !== 'check') return undefined;
  return { key, value: m[2] as string };
}

function parseCheck(value: string): CheckDirective | string {
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

/** Heredoc delimiter word -> heredoc (without body), or undefined when the word is not one. */
export function parseHeredocWord(word: string): { name: string; expand: boolean; chomp: boolean } | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === '') return undefined;
  // Lex the delimiter with and without quotes: if the counts differ, part of it was quoted
  // and the body is literal.
  const env = () => undefined;
  let plain: readonly string[];
  let raw: readonly string[];
  try {
    plain = processWord(rest, env, { skipUnset: true }).words;
    raw = processWord(rest, env, { skipUnset: true, rawQuotes: true }).words;
  } catch {
    return undefined;
  }
  if (plain.length !== 1 || raw.length !== 1) return undefined;
  const name = plain[0] as string;
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return { name, expand: quotes(name) === quotes(raw[0] as string), chomp: m[2] === '-' };
}

/** The heredoc delimiters of an instruction line, in order. */
function heredocsOf(line: string): { name: string; expand: boolean; chomp: boolean }[] {
  let words: readonly string[];
  try {
    words = processWord(line, () => undefined, { rawQuotes: true, rawEscapes: true, skipUnset: true }).words;
  } catch {
    // BuildKit ignores a line it cannot lex here: such an instruction has no heredocs.
    return [];
  }
  const out: { name: string; expand: boolean; chomp: boolean }[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** Strips leading tabs from every line, as `<<-` asks. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, '');
}

interface Draft {
  keyword: string;
  flags: string[];
  args: string[];
  rest: string;
  json: boolean;
  trigger?: Draft;
}

/** Problems found while splitting one logical line; the caller turns them into positioned errors. */
class LineError extends Error {
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

function splitCommand(line: string): { keyword: string; flags: string[]; rest: string } {
  const text = trimSpace(line);
  const m = WHITESPACE.exec(text);
  const keyword = (m ? text.slice(0, m.index) : text).toLowerCase();
  if (!m) return { keyword, flags: [], rest: '' };
  const { flags, rest } = extractFlags(text.slice(m.index + m[0].length));
  return { keyword, flags, rest: trimSpace(rest) };
}

function draftNode(line: string, escape: string, legacy: { value: boolean }): Draft {
  const { keyword, flags, rest } = splitCommand(line);
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

function canContainHeredoc(d: Draft): boolean {
  const target = d.keyword === 'onbuild' && d.trigger ? d.trigger : d;
  return HEREDOC_INSTRUCTIONS.has(target.keyword) && !target.json;
}

function freeze(d: Draft, heredocs: readonly Heredoc[], startLine: number, endLine: number, original: string): Node {
  const node: {
    keyword: string;
    flags: readonly string[];
    args: readonly string[];
    rest: string;
    json: boolean;
    heredocs: readonly Heredoc[];
    trigger?: Node;
    startLine: number;
    endLine: number;
    original: string;
  } = {
    keyword: d.keyword,
    flags: d.flags,
    args: d.args,
    rest: d.rest,
    json: d.json,
    heredocs,
    startLine,
    endLine,
    original,
  };
  if (d.trigger) node.trigger = freeze(d.trigger, [], startLine, endLine, d.rest);
  return node;
}

/** Finds `needle` in lines start..end (1-based) of the source; the first non-blank character otherwise. */
export function locate(source: SourceText, start: number, end: number, needle?: string): SourcePosition {
  if (needle) {
    // Exact first; then ignoring case, since keywords and directive names are case-insensitive.
    for (const fold of [false, true]) {
      const want = fold ? needle.toLowerCase() : needle;
      for (let n = start; n <= end && n <= source.lines.length; n++) {
        const text = trimNewline(source.lines[n - 1] ?? '');
        const at = (fold ? text.toLowerCase() : text).indexOf(want);
        if (at >= 0) return { file: source.file, line: n, column: columnOf(text, at), text };
      }
    }
  }
  const text = trimNewline(source.lines[start - 1] ?? '');
  const lead = text.length - trimLeftSpace(text).length;
  return { file: source.file, line: start, column: columnOf(text, lead), text };
}

/**
 * Parses a Dockerfile into its syntax tree. Throws DockerfileSyntaxError (line, column, the
 * line quoted) for a bad directive, an unknown instruction, a non-string JSON array, a malformed
 * ENV/LABEL, an unterminated heredoc, or a file without instructions.
 */
export function parse(text: string, options: ParseOptions = {}): ParseResult {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = scanLines(body);
  const source: SourceText = { file: options.file ?? 'Dockerfile', lines };
  const fail = (kind: SyntaxErrorKind, detail: string, pos: SourcePosition, suggestion?: string): never => {
    throw new DockerfileSyntaxError(kind, detail, pos, suggestion);
  };

  let escape: EscapeChar = '\\';
  let syntax: string | undefined;
  let check: CheckDirective | undefined;
  const seen = new Set<string>();
  let directivesDone = false;
  const directive = (token: string, lineNo: number): void => {
    if (directivesDone) return;
    const d = matchDirective(token);
    if (!d) {
      directivesDone = true;
      return;
    }
    const pos = locate(source, lineNo, lineNo, d.key);
    if (seen.has(d.key)) fail('directive', `only one ${d.key} parser directive can be used`, pos);
    seen.add(d.key);
    if (d.key === 'escape') {
      if (d.value !== '\\' && d.value !== '`') {
        fail(
          'directive',
          `invalid escape token '${d.value}' does not match \` or \\`,
          pos,
          'write # escape=\\ or # escape=`',
        );
      }
      escape = d.value as EscapeChar;
    } else if (d.key === 'syntax') {
      syntax = d.value;
    } else {
      const parsed = parseCheck(d.value);
      if (typeof parsed === 'string') {
        fail('directive', parsed, pos, 'write # check=skip=Rule1,Rule2;error=true (or skip=all)');
      }
      check = parsed as CheckDirective;
    }
  };
  const processLine = (raw: string, lineNo: number, stripLeft: boolean): string => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    directive(token, lineNo);
    return token.startsWith('#') ? '' : token;
  };
  const trimContinuation = (line: string): { line: string; end: boolean } => {
    const re = CONTINUATION[escape];
    return re.test(line) ? { line: line.replace(re, '$1'), end: false } : { line, end: true };
  };

  const ast: Node[] = [];
  const warnings: Warning[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    const first = processLine(lines[i] as string, startLine, true);
    i++;
    let { line, end } = trimContinuation(first);
    if (end && line === '') continue;
    let emptyContinuation = false;
    while (!end && i < lines.length) {
      const raw = lines[i] as string;
      const token = processLine(raw, i + 1, false);
      i++;
      if (isComment(raw)) continue;
      if (trimLeftSpace(token) === '') {
        emptyContinuation = true;
        continue;
      }
      const next = trimContinuation(token);
      line += next.line;
      end = next.end;
    }
    if (emptyContinuation) {
      warnings.push({
        code: 'NoEmptyContinuation',
        message: `empty continuation line found in: ${line}`,
        line: startLine,
      });
    }
    const legacy = { value: false };
    let draft: Draft;
    try {
      draft = draftNode(line, escape, legacy);
    } catch (err) {
      if (err instanceof LineError)
        fail(err.kind, err.message, locate(source, startLine, i, err.needle), err.suggestion);
      throw err;
    }
    if (legacy.value) {
      warnings.push({
        code: 'LegacyKeyValueFormat',
        message: `"${draft.keyword.toUpperCase()} key=value" should be used instead of legacy "${draft.keyword.toUpperCase()} key value" format`,
        line: startLine,
      });
    }
    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(draft)) {
      for (const h of heredocsOf(line)) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const raw = lines[i] as string;
          i++;
          let candidate = trimNewline(raw);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        if (!terminated) {
          fail(
            'heredoc',
            `unterminated heredoc ${JSON.stringify(h.name)}`,
            locate(source, startLine, startLine, `<<`),
            `end the heredoc with a line holding only ${h.name}`,
          );
        }
        heredocs.push({ name: h.name, content, expand: h.expand, chomp: h.chomp });
      }
    }
    ast.push(freeze(draft, heredocs, startLine, i, line));
  }
  if (ast.length === 0) {
    fail('syntax', 'file with no instructions', {
      file: source.file,
      line: Math.max(1, lines.length),
      column: 1,
      text: trimNewline(lines[lines.length - 1] ?? ''),
    });
  }
  const directives: { escape: EscapeChar; syntax?: string; check?: CheckDirective } = { escape };
  if (syntax !== undefined) directives.syntax = syntax;
  if (check !== undefined) directives.check = check;
  return { ast, directives, warnings: filterWarnings(warnings, check), source };
}

/** Drops the warnings a `# check=skip=...` directive turned off. */
export function filterWarnings(warnings: readonly Warning[], check: CheckDirective | undefined): Warning[] {
  if (!check) return [...warnings];
  if (check.skipAll) return [];
  return warnings.filter((w) => !check.skip.includes(w.code));
}
