/**
 * WWW-Authenticate parsing (RFC 7235 §4.1 with RFC 9110's grammar): several challenges in one
 * header or in several headers, auth-params with token or quoted-string values (backslash escapes,
 * commas inside quotes), token68 credentials, case-insensitive schemes and parameter names.
 */

export interface Challenge {
  /** Lower-cased: 'bearer', 'basic', ... */
  readonly scheme: string;
  /** Parameter names lower-cased; the first of a repeated name wins. */
  readonly params: Readonly<Record<string, string>>;
  /** A token68 credential (`Negotiate abc==`), when the challenge carries one instead of params. */
  readonly token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

class Cursor {
  #s: string;
  pos = 0;
  constructor(s: string) {
    this.#s = s;
  }
  get done(): boolean {
    return this.pos >= this.#s.length;
  }
  peek(offset = 0): string {
    return this.#s[this.pos + offset] ?? '';
  }
  rest(): string {
    return this.#s.slice(this.pos);
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  /** Skips whitespace and list separators (the #rule allows empty elements). */
  skipSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.pos++;
  }
  token(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) this.pos++;
    return this.#s.slice(start, this.pos);
  }
  quoted(): string {
    // At the opening quote. An unterminated string runs to the end, as lenient parsers do.
    this.pos++;
    let out = '';
    while (!this.done) {
      const c = this.peek();
      this.pos++;
      if (c === '"') break;
      if (c === '\\' && !this.done) {
        out += this.peek();
        this.pos++;
      } else {
        out += c;
      }
    }
    return out;
  }
  /** True when an auth-param (`token BWS "=" BWS value`) starts here; does not move. */
  atParam(): boolean {
    const m = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*=[ \t]*/.exec(this.rest());
    if (!m) return false;
    const next = this.#s[this.pos + m[0].length] ?? '';
    // `abc==` or `abc=` at the end of an element is token68, not a parameter.
    return next === '"' || TCHAR.test(next);
  }
}

function setParam(params: Record<string, string>, name: string, value: string): void {
  const key = name.toLowerCase();
  if (Object.hasOwn(params, key)) return;
  // defineProperty, so a parameter named __proto__ is data, not a prototype change.
  Object.defineProperty(params, key, { value, enumerable: true, writable: true, configurable: true });
}

function parseOne(value: string, out: Challenge[]): void {
  const c = new Cursor(value);
  for (;;) {
    c.skipSeparators();
    if (c.done) return;
    const scheme = c.token();
    if (scheme === '') {
      // Not a challenge: skip to the next list element.
      while (!c.done && c.peek() !== ',') c.pos++;
      continue;
    }
    const params: Record<string, string> = {};
    let token68: string | undefined;
    c.skipSpaces();
    if (!c.atParam()) {
      const m = TOKEN68.exec(c.rest());
      const after = m ? c.rest().slice(m[0].length).trimStart() : '';
      if (m && (after === '' || after.startsWith(','))) {
        token68 = m[0];
        c.pos += m[0].length;
      }
    }
    if (token68 === undefined) {
      // auth-params, comma-separated, until the next token that is not followed by '='.
      for (;;) {
        c.skipSpaces();
        if (!c.atParam()) break;
        const name = c.token();
        c.skipSpaces();
        c.pos++; // '='
        c.skipSpaces();
        const v = c.peek() === '"' ? c.quoted() : c.token();
        setParam(params, name, v);
        c.skipSpaces();
        if (c.peek() !== ',') break;
        // Past the commas: a parameter continues this challenge, anything else starts the next.
        const mark = c.pos;
        c.skipSeparators();
        if (!c.atParam()) {
          c.pos = mark;
          break;
        }
      }
    }
    out.push(
      token68 === undefined
        ? { scheme: scheme.toLowerCase(), params }
        : { scheme: scheme.toLowerCase(), params, token68 },
    );
    // Anything unparsable up to the next element is dropped.
    c.skipSpaces();
    while (!c.done && c.peek() !== ',') c.pos++;
  }
}

/** Parses every challenge in the given WWW-Authenticate header values, in order. */
export function parseChallenges(values: readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const v of values) parseOne(v, out);
  return out;
}
