/**
 * A parser for the subset of TOML that gantry's settings files use: tables (`[a."b.c"]`), bare,
 * quoted and dotted keys, basic strings with escapes, literal strings, booleans, integers
 * (decimal, 0x, 0o, 0b, with `_` separators) and arrays that may span lines, with comments.
 * Everything else TOML has (floats, dates, inline tables, multi-line strings, arrays of tables)
 * is refused with the line it is on, so a settings file never means something other than what
 * its author read: a silently misread registry setting is worse than a clear error.
 */
import { GantryError } from '../errors.js';

export type TomlValue = string | number | boolean | readonly TomlValue[] | TomlTable;
export interface TomlTable {
  readonly [key: string]: TomlValue;
}

export interface TomlParseOptions {
  /** Names the input in errors, e.g. the file path. Default 'TOML'. */
  readonly source?: string;
}

type MutableTable = Record<string, TomlValue>;

const BARE_KEY = /[A-Za-z0-9_-]/;
const SUGGESTION =
  'fix the file: gantry reads a TOML subset (tables, quoted and dotted keys, strings, booleans, integers, arrays)';

/** Parses `text`; throws a GantryError with code BAD_CONFIG and the line number on anything it does not accept. */
export function parseToml(text: string, options: TomlParseOptions = {}): TomlTable {
  return new Parser(text, options.source ?? 'TOML').document();
}

class Parser {
  readonly #text: string;
  readonly #source: string;
  #pos = 0;
  readonly #root: MutableTable = {};
  /** Tables opened by a `[header]` or created by a dotted key: they may not be opened again. */
  readonly #closed = new Set<MutableTable>();

  constructor(text: string, source: string) {
    // A BOM is not content; editors on some systems add one.
    this.#text = text.startsWith('\uFEFF') ? text.slice(1) : text;
    this.#source = source;
  }

  document(): TomlTable {
    let current = this.#root;
    for (;;) {
      this.#skipSpaces();
      const c = this.#peek();
      if (c === undefined) return this.#root;
      if (c === '\n' || c === '\r') {
        this.#newline();
      } else if (c === '#') {
        this.#comment();
      } else if (c === '[') {
        current = this.#tableHeader();
        this.#endOfLine();
      } else {
        this.#keyValue(current);
        this.#endOfLine();
      }
    }
  }

  #fail(message: string, at = this.#pos): never {
    let line = 1;
    for (let i = 0; i < at && i < this.#text.length; i++) if (this.#text[i] === '\n') line++;
    throw new GantryError('BAD_CONFIG', `${this.#source}:${line}: ${message}`, {
      phase: 'config',
      suggestion: SUGGESTION,
    });
  }

  #peek(offset = 0): string | undefined {
    return this.#text[this.#pos + offset];
  }

  #startsWith(s: string): boolean {
    return this.#text.startsWith(s, this.#pos);
  }

  #skipSpaces(): void {
    while (this.#peek() === ' ' || this.#peek() === '\t') this.#pos++;
  }

  #newline(): void {
    if (this.#startsWith('\r\n')) this.#pos += 2;
    else if (this.#peek() === '\n') this.#pos++;
    else this.#fail('a carriage return must be followed by a line feed');
  }

  #comment(): void {
    while (this.#pos < this.#text.length && this.#peek() !== '\n' && !this.#startsWith('\r\n')) {
      const code = this.#text.charCodeAt(this.#pos);
      if ((code < 0x20 && code !== 0x09) || code === 0x7f) this.#fail('control character in a comment');
      this.#pos++;
    }
  }

  /** After a header or a key/value: only spaces and a comment may follow on the line. */
  #endOfLine(): void {
    this.#skipSpaces();
    if (this.#peek() === '#') this.#comment();
    const c = this.#peek();
    if (c === undefined) return;
    if (c === '\n' || c === '\r') {
      this.#newline();
      return;
    }
    this.#fail(`unexpected ${describe(c)} after the value; put one key = value per line`);
  }

  #tableHeader(): MutableTable {
    const start = this.#pos;
    if (this.#startsWith('[[')) this.#fail('arrays of tables ([[...]]) are not supported');
    this.#pos++;
    this.#skipSpaces();
    const key = this.#key();
    this.#skipSpaces();
    if (this.#peek() !== ']') this.#fail(`expected ']' to close the table header, found ${describe(this.#peek())}`);
    this.#pos++;
    let table = this.#root;
    for (const [i, part] of key.entries()) {
      const existing = Object.hasOwn(table, part) ? table[part] : undefined;
      if (existing === undefined) {
        const created: MutableTable = {};
        define(table, part, created);
        table = created;
      } else if (isTable(existing)) {
        table = existing;
      } else {
        this.#fail(`table [${key.slice(0, i + 1).join('.')}] is already defined as a value`, start);
      }
    }
    if (this.#closed.has(table)) this.#fail(`table [${key.join('.')}] is defined twice`, start);
    this.#closed.add(table);
    return table;
  }

  #keyValue(table: MutableTable): void {
    const start = this.#pos;
    const key = this.#key();
    this.#skipSpaces();
    if (this.#peek() !== '=')
      this.#fail(`expected '=' after the key ${key.join('.')}, found ${describe(this.#peek())}`);
    this.#pos++;
    this.#skipSpaces();
    const value = this.#value();
    let target = table;
    for (const [i, part] of key.slice(0, -1).entries()) {
      const existing = Object.hasOwn(target, part) ? target[part] : undefined;
      if (existing === undefined) {
        const created: MutableTable = {};
        define(target, part, created);
        this.#closed.add(created);
        target = created;
      } else if (isTable(existing)) {
        target = existing;
      } else {
        this.#fail(`key ${key.slice(0, i + 1).join('.')} is already defined as a value`, start);
      }
    }
    const last = key[key.length - 1] as string;
    if (Object.hasOwn(target, last)) this.#fail(`key ${key.join('.')} is defined twice`, start);
    define(target, last, value);
  }

  #key(): string[] {
    const parts = [this.#simpleKey()];
    for (;;) {
      this.#skipSpaces();
      if (this.#peek() !== '.') return parts;
      this.#pos++;
      this.#skipSpaces();
      parts.push(this.#simpleKey());
    }
  }

  #simpleKey(): string {
    const c = this.#peek();
    if (c === '"') {
      if (this.#startsWith('"""')) this.#fail('a key may not be a multi-line string');
      return this.#basicString();
    }
    if (c === "'") {
      if (this.#startsWith("'''")) this.#fail('a key may not be a multi-line string');
      return this.#literalString();
    }
    const start = this.#pos;
    while (this.#peek() !== undefined && BARE_KEY.test(this.#peek() as string)) this.#pos++;
    if (this.#pos === start) this.#fail(`expected a key, found ${describe(c)}`);
    return this.#text.slice(start, this.#pos);
  }

  #value(): TomlValue {
    const c = this.#peek();
    if (c === undefined || c === '\n' || c === '\r' || c === '#') this.#fail('expected a value after =');
    if (c === '"') {
      if (this.#startsWith('"""')) this.#fail('multi-line strings are not supported');
      return this.#basicString();
    }
    if (c === "'") {
      if (this.#startsWith("'''")) this.#fail('multi-line strings are not supported');
      return this.#literalString();
    }
    if (c === '[') return this.#array();
    if (c === '{') this.#fail('inline tables ({...}) are not supported; use a [table] header');
    const start = this.#pos;
    while (this.#peek() !== undefined && /[A-Za-z0-9_+\-.:]/.test(this.#peek() as string)) this.#pos++;
    const word = this.#text.slice(start, this.#pos);
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === '') this.#fail(`expected a value, found ${describe(c)}`);
    return this.#integer(word, start);
  }

  #integer(word: string, start: number): number {
    let value: number;
    if (/^[+-]?(0|[1-9](_?[0-9])*)$/.test(word)) {
      value = Number(word.replaceAll('_', ''));
    } else if (/^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/.test(word)) {
      value = Number.parseInt(word.slice(2).replaceAll('_', ''), 16);
    } else if (/^0o[0-7](_?[0-7])*$/.test(word)) {
      value = Number.parseInt(word.slice(2).replaceAll('_', ''), 8);
    } else if (/^0b[01](_?[01])*$/.test(word)) {
      value = Number.parseInt(word.slice(2).replaceAll('_', ''), 2);
    } else if (
      /^(inf|nan|[+-]inf|[+-]nan)$/.test(word) ||
      /^[+-]?[0-9_]+(\.[0-9_]+([eE][+-]?[0-9_]+)?|[eE][+-]?[0-9_]+)$/.test(word)
    ) {
      this.#fail(`floats are not supported (${word})`, start);
    } else if (/^\d{4}-\d{2}-\d{2}/.test(word) || /^\d{2}:\d{2}/.test(word)) {
      this.#fail(`dates and times are not supported (${word})`, start);
    } else {
      this.#fail(`invalid value ${JSON.stringify(word)}; quote strings ("...")`, start);
    }
    if (!Number.isSafeInteger(value)) this.#fail(`integer ${word} is too large`, start);
    // -0 is 0 in TOML; keep it from leaking into equality checks.
    return value === 0 ? 0 : value;
  }

  #array(): TomlValue[] {
    this.#pos++; // [
    const items: TomlValue[] = [];
    for (;;) {
      this.#skipArrayFiller();
      if (this.#peek() === ']') {
        this.#pos++;
        return items;
      }
      if (this.#peek() === undefined) this.#fail("unterminated array: expected ']'");
      items.push(this.#value());
      this.#skipArrayFiller();
      const c = this.#peek();
      if (c === ',') {
        this.#pos++;
      } else if (c === ']') {
        this.#pos++;
        return items;
      } else if (c === undefined) {
        this.#fail("unterminated array: expected ']'");
      } else {
        this.#fail(`expected ',' or ']' in the array, found ${describe(c)}`);
      }
    }
  }

  /** Spaces, newlines and comments, which arrays allow between their values. */
  #skipArrayFiller(): void {
    for (;;) {
      this.#skipSpaces();
      const c = this.#peek();
      if (c === '\n' || c === '\r') this.#newline();
      else if (c === '#') this.#comment();
      else return;
    }
  }

  #basicString(): string {
    const start = this.#pos;
    this.#pos++; // "
    let out = '';
    for (;;) {
      const c = this.#peek();
      if (c === undefined || c === '\n' || c === '\r') this.#fail('unterminated string', start);
      this.#pos++;
      if (c === '"') return out;
      if (c === '\\') {
        out += this.#escape();
        continue;
      }
      const code = c.charCodeAt(0);
      if ((code < 0x20 && code !== 0x09) || code === 0x7f) this.#fail('control character in a string; escape it');
      out += c;
    }
  }

  #escape(): string {
    const c = this.#peek();
    this.#pos++;
    switch (c) {
      case 'b':
        return '\b';
      case 't':
        return '\t';
      case 'n':
        return '\n';
      case 'f':
        return '\f';
      case 'r':
        return '\r';
      case 'e':
        return '\x1b';
      case '"':
        return '"';
      case '\\':
        return '\\';
      case 'u':
      case 'U': {
        const length = c === 'u' ? 4 : 8;
        const hex = this.#text.slice(this.#pos, this.#pos + length);
        if (!new RegExp(`^[0-9A-Fa-f]{${length}}$`).test(hex)) this.#fail(`\\${c} needs ${length} hex digits`);
        const code = Number.parseInt(hex, 16);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.#fail(`\\${c}${hex} is not a Unicode scalar`);
        this.#pos += length;
        return String.fromCodePoint(code);
      }
      default:
        return this.#fail(`invalid escape \\${c ?? ''} in a string`, this.#pos - 2);
    }
  }

  #literalString(): string {
    const start = this.#pos;
    this.#pos++; // '
    const end = this.#text.indexOf("'", this.#pos);
    const newline = this.#text.slice(this.#pos, end === -1 ? undefined : end).search(/[\r\n]/);
    if (end === -1 || newline !== -1) this.#fail('unterminated string', start);
    const value = this.#text.slice(this.#pos, end);
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) this.#fail('control character in a string');
    this.#pos = end + 1;
    return value;
  }
}

function isTable(value: TomlValue): value is MutableTable {
  return typeof value === 'object' && !Array.isArray(value);
}

/** An own property even for names like `__proto__`, which plain assignment would treat as the prototype. */
function define(table: MutableTable, key: string, value: TomlValue): void {
  Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
}

function describe(c: string | undefined): string {
  if (c === undefined) return 'end of file';
  if (c === '\n' || c === '\r') return 'end of line';
  return JSON.stringify(c);
}
