/**
 * Shell-word expansion with the semantics of BuildKit's Dockerfile lexer (frontend/dockerfile/
 * shell/lex.go): `$v`, `${v}`, the `${v:-w}` `${v-w}` `${v:+w}` `${v+w}` `${v:?m}` `${v?m}`
 * defaults and checks, `${v#p}` `${v##p}` `${v%p}` `${v%%p}` trimming and `${v/p/r}` `${v//p/r}`
 * replacement with `*` and `?` patterns, single and double quotes, the escape character, and
 * splitting into words after expansion. It also reports which variables a word read, set or not,
 * because a build step's cache key depends on exactly those.
 *
 * This is not a POSIX shell: no command substitution, no arithmetic, no field splitting on IFS,
 * and `$1`, `$@`, `$?` and friends are looked up like any other name (and normally unset).
 */
import { isDigit, isLetter, isSpace } from './chars.js';
import { ShellExpansionError } from './errors.js';

export type EscapeChar = '\\' | '`';

/** Looks a variable up; `undefined` means unset (which differs from set to ''). */
export type EnvLookup = (name: string) => string | undefined;

export interface ShellOptions {
  /** The escape character: `\` (default) or the backtick set by `# escape=\``. */
  readonly escape?: EscapeChar;
  /** Keep quote characters in the result (the parser's heredoc detection needs them). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to ''. */
  readonly skipUnset?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies are expanded this way). */
  readonly skipQuotes?: boolean;
}

export interface Expansion {
  /** The word with quotes removed and variables expanded; spaces kept. */
  readonly value: string;
  /** The same text split into words, honoring quotes; splitting happens after expansion. */
  readonly words: readonly string[];
  /** Variables the word read that were set, in first-use order. */
  readonly usedVars: readonly string[];
  /** Variables the word referenced that were unset, in first-use order. */
  readonly unsetVars: readonly string[];
}

/** A lexer failure before it is tied to the word it happened in. */
class LexError extends Error {}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class Scanner {
  readonly #chars: readonly string[];
  #pos = 0;
  constructor(text: string) {
    this.#chars = Array.from(text);
  }
  peek(): string | undefined {
    return this.#chars[this.#pos];
  }
  next(): string | undefined {
    const ch = this.#chars[this.#pos];
    if (ch !== undefined) this.#pos++;
    return ch;
  }
}

/** Accumulates words: unquoted spaces end a word, quoted text never does. */
class Words {
  readonly #words: string[] = [];
  #buf = '';
  #inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.#inWord && this.#buf.length > 0) {
        this.#words.push(this.#buf);
        this.#buf = '';
        this.#inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }

  addRaw(text: string): void {
    this.#buf += text;
    this.#inWord = true;
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  done(): string[] {
    if (this.#buf.length > 0) {
      this.#words.push(this.#buf);
      this.#buf = '';
      this.#inWord = false;
    }
    return this.#words;
  }
}

class Lexer {
  readonly #scanner: Scanner;
  readonly #env: EnvLookup;
  readonly #escape: string;
  readonly #rawQuotes: boolean;
  readonly #skipUnset: boolean;
  readonly #skipQuotes: boolean;
  #rawEscapes: boolean;
  readonly used = new Set<string>();
  readonly unset = new Set<string>();

  constructor(word: string, env: EnvLookup, options: ShellOptions) {
    this.#scanner = new Scanner(word);
    this.#env = env;
    this.#escape = options.escape ?? '\\';
    this.#rawQuotes = options.rawQuotes ?? false;
    this.#rawEscapes = options.rawEscapes ?? false;
    this.#skipUnset = options.skipUnset ?? false;
    this.#skipQuotes = options.skipQuotes ?? false;
  }

  run(): { value: string; words: string[] } {
    return this.#processStopOn(undefined, this.#rawEscapes);
  }

  #getEnv(name: string): string | undefined {
    const value = this.#env(name);
    if (value === undefined) this.unset.add(name);
    else this.used.add(name);
    return value;
  }

  /** Reads up to (and consumes) `stop`, or to the end when `stop` is undefined. */
  #processStopOn(stop: string | undefined, rawEscapes: boolean): { value: string; words: string[] } {
    const saved = this.#rawEscapes;
    this.#rawEscapes = rawEscapes;
    try {
      const s = this.#scanner;
      let result = '';
      const words = new Words();
      for (let ch = s.peek(); ch !== undefined; ch = s.peek()) {
        if (stop !== undefined && ch === stop) {
          s.next();
          return { value: result, words: words.done() };
        }
        if (ch === '$') {
          const text = this.#processDollar();
          result += text;
          words.addString(text);
        } else if (!this.#skipQuotes && (ch === "'" || ch === '"')) {
          const text = ch === "'" ? this.#processSingleQuote() : this.#processDoubleQuote();
          result += text;
          words.addRaw(text);
        } else {
          let c = s.next() as string;
          if (c === this.#escape) {
            if (this.#rawEscapes) {
              words.addRaw(c);
              result += c;
            }
            const escaped = s.next();
            // An escape at the very end escapes nothing and is dropped.
            if (escaped === undefined) break;
            c = escaped;
            words.addRaw(c);
          } else {
            words.addChar(c);
          }
          result += c;
        }
      }
      if (stop !== undefined) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { value: result, words: words.done() };
    } finally {
      this.#rawEscapes = saved;
    }
  }

  #processSingleQuote(): string {
    // Everything up to the next single quote is literal; a single quote cannot be escaped inside.
    const s = this.#scanner;
    let result = '';
    const open = s.next() as string;
    if (this.#rawQuotes) result += open;
    for (;;) {
      const ch = s.next();
      if (ch === undefined) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.#rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  #processDoubleQuote(): string {
    // Literal except `$` and the escape character, which escapes only `"`, `$` and itself.
    const s = this.#scanner;
    let result = '';
    const open = s.next() as string;
    if (this.#rawQuotes) result += open;
    for (;;) {
      const peek = s.peek();
      if (peek === undefined) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        s.next();
        if (this.#rawQuotes) result += peek;
        return result;
      }
      if (peek === '$') {
        result += this.#processDollar();
        continue;
      }
      let ch = s.next() as string;
      if (ch === this.#escape) {
        if (this.#rawEscapes) result += ch;
        const after = s.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.#escape) ch = s.next() as string;
      }
      result += ch;
    }
  }

  #processDollar(): string {
    const s = this.#scanner;
    s.next();
    if (s.peek() !== '{') {
      const name = this.#processName();
      if (name === '') return '$';
      const value = this.#getEnv(name);
      if (value === undefined && this.#skipUnset) return `$${name}`;
      return value ?? '';
    }
    s.next();
    const first = s.peek();
    if (first === undefined) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.#processName();
    let ch = s.next();
    if (ch === undefined) throw new LexError("syntax error: missing '}'");
    let modifier = ch;
    if (ch === '}') {
      const value = this.#getEnv(name);
      if (value === undefined && this.#skipUnset) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === '/') return this.#processReplace(name);
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = s.next();
      modifier += ch ?? '';
    } else if (!'+-?#%'.includes(ch)) {
      throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    }
    // Patterns keep their escapes: `\*` must reach the pattern compiler as an escaped star.
    const isPattern = ch === '#' || ch === '%';
    if (nullIsUnset && isPattern) throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    let word = this.#untilClosingBrace(isPattern);
    const value = this.#getEnv(name);
    if (value === undefined && this.#skipUnset) return `\${${name}${modifier}${word}}`;
    const unsetOrNull = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return unsetOrNull ? word : (value as string);
      case '+':
        return unsetOrNull ? '' : word;
      case '?':
        if (value === undefined) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // `#`/`%` match the shortest prefix/suffix, `##`/`%%` the longest.
        let greedy = false;
        if (word.startsWith(ch)) {
          greedy = true;
          word = word.slice(1);
        }
        const current = value ?? '';
        return ch === '%' ? trimSuffix(word, current, greedy) : trimPrefix(word, current, greedy);
      }
      default:
        throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  #untilClosingBrace(rawEscapes: boolean): string {
    try {
      return this.#processStopOn('}', rawEscapes).value;
    } catch (err) {
      if (err instanceof LexError && this.#scanner.peek() === undefined)
        throw new LexError("syntax error: missing '}'");
      throw err;
    }
  }

  #processReplace(name: string): string {
    const s = this.#scanner;
    const replaceAll = s.peek() === '/';
    if (replaceAll) s.next();
    let pattern: string;
    try {
      pattern = this.#processStopOn('/', true).value;
    } catch (err) {
      if (err instanceof LexError && s.peek() === undefined) throw new LexError(`syntax error: missing '/' in \${}`);
      throw err;
    }
    const replacement = this.#untilClosingBrace(true);
    const value = this.#getEnv(name);
    if (value === undefined && this.#skipUnset) return `\${${name}/${pattern}/${replacement}}`;
    const re = compilePattern(pattern, true, false);
    const current = value ?? '';
    if (replaceAll) return replaceAllGo(re, current, replacement);
    const m = re.exec(current);
    if (!m) return current;
    return current.slice(0, m.index) + replacement + current.slice(m.index + m[0].length);
  }

  #processName(): string {
    const s = this.#scanner;
    let name = '';
    for (let ch = s.peek(); ch !== undefined; ch = s.peek()) {
      if (name === '' && isDigit(ch)) {
        // Positional parameters: all the digits, then stop.
        for (let d = s.peek(); d !== undefined && isDigit(d); d = s.peek()) name += s.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return s.next() as string;
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += s.next();
    }
    return name;
  }
}

/**
 * A shell pattern (`*` any text, `?` one character, `\*` `\?` `\\` literal, no brackets) as a
 * regular expression. `\}` and `\/` stand for the character alone: inside `${...}` those need an
 * escape that is not part of the pattern. `.` of Go's regexp does not match a newline, and
 * neither do these wildcards.
 */
function compilePattern(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i] as string;
    switch (tok) {
      case '*':
        out += star;
        continue;
      case '?':
        out += '[^\\n]';
        continue;
      case '\\': {
        const next = chars[i + 1];
        if (next === '}' || next === '/') continue;
        i++;
        if (next !== '*' && next !== '?' && next !== '\\') {
          throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${next ?? ''}'`);
        }
        out += '\\';
        tok = next;
        break;
      }
      case '[':
      case ']':
      case '{':
      case '}':
      case '.':
      case '+':
      case '(':
      case ')':
      case '|':
      case '^':
      case '$':
        out += '\\';
        break;
    }
    out += tok;
  }
  return new RegExp(out, 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = compilePattern(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern but keeps each escape before the character it escapes: `a\*c` -> `c\*a`. */
function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out: string[] = new Array(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = runes[i] as string;
    const at = last - i;
    if (tok === '\\' && i !== last) {
      out[at - 1] = tok;
      out[at] = runes[i + 1] as string;
      i += 2;
    } else {
      out[at] = tok;
      i++;
    }
  }
  return out.join('');
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

/** A regular expression cannot find the shortest rightmost match, so reverse both and trim a prefix. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/**
 * Go's Regexp.ReplaceAllString: non-overlapping matches left to right, an empty match right
 * after a previous match is skipped, and the replacement is a template where `$0` is the match,
 * `$$` a dollar, and any other `$name`/`${name}` (our patterns have no groups) is empty.
 */
function replaceAllGo(re: RegExp, value: string, template: string): string {
  const global = new RegExp(re.source, 'gu');
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    global.lastIndex = searchPos;
    const m = global.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastMatchEnd, start);
    // No replacement for an empty match right after another match (it would replace twice).
    if (end > lastMatchEnd || start === 0) out += expandTemplate(template, m[0]);
    lastMatchEnd = end;
    const width = searchPos < value.length ? charWidth(value, searchPos) : 0;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

function charWidth(s: string, i: number): number {
  const cp = s.codePointAt(i);
  return cp !== undefined && cp > 0xffff ? 2 : 1;
}

function isTemplateNameChar(ch: string): boolean {
  return isLetter(ch) || isDigit(ch) || ch === '_';
}

function expandTemplate(template: string, match: string): string {
  const t = Array.from(template);
  let out = '';
  let i = 0;
  while (i < t.length) {
    const c = t[i] as string;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    if (t[i + 1] === '$') {
      out += '$';
      i += 2;
      continue;
    }
    const brace = t[i + 1] === '{';
    let j = i + (brace ? 2 : 1);
    const nameStart = j;
    while (j < t.length && isTemplateNameChar(t[j] as string)) j++;
    const name = t.slice(nameStart, j).join('');
    if (name === '' || (brace && t[j] !== '}')) {
      // Malformed reference: the dollar stays literal.
      out += '$';
      i++;
      continue;
    }
    i = brace ? j + 1 : j;
    // Only group 0 (the whole match) exists; leading zeros make a name, not a number.
    if (name === '0') out += match;
  }
  return out;
}

/** Expands one word and reports everything about it. Throws ShellExpansionError. */
export function processWord(word: string, env: EnvLookup, options: ShellOptions = {}): Expansion {
  const lexer = new Lexer(word, env, options);
  try {
    const { value, words } = lexer.run();
    return { value, words, usedVars: [...lexer.used], unsetVars: [...lexer.unset] };
  } catch (err) {
    if (err instanceof LexError) throw new ShellExpansionError(word, err.message);
    throw err;
  }
}

/** Expands a word (quotes removed, variables substituted), keeping its spaces. */
export function expand(word: string, env: EnvLookup, options: ShellOptions = {}): string {
  return processWord(word, env, options).value;
}

/** Expands text and splits it into words, honoring quotes; splitting happens after expansion. */
export function expandWords(text: string, env: EnvLookup, options: ShellOptions = {}): string[] {
  return [...processWord(text, env, options).words];
}

/** An EnvLookup over a map, a record, or `KEY=value` strings (a later duplicate wins, as in BuildKit). */
export function envLookup(
  source: ReadonlyMap<string, string> | Readonly<Record<string, string>> | readonly string[],
): EnvLookup {
  let map: ReadonlyMap<string, string>;
  if (Array.isArray(source)) {
    const m = new Map<string, string>();
    for (const entry of source as readonly string[]) {
      const eq = entry.indexOf('=');
      if (eq < 0) m.set(entry, '');
      else m.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    map = m;
  } else if (source instanceof Map) {
    map = source;
  } else {
    map = new Map(Object.entries(source));
  }
  return (name) => map.get(name);
}
