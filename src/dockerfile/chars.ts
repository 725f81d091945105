/**
 * Character classes as Go's `unicode` package defines them, because BuildKit's parser and lexer
 * decide word boundaries and names with them (JavaScript's `\s` is a slightly different set).
 */

const SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const LEADING_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const TRAILING_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/u;

/** Go's unicode.IsSpace. */
export function isSpace(ch: string): boolean {
  return SPACE.test(ch);
}

/** Go's unicode.IsLetter. */
export function isLetter(ch: string): boolean {
  return LETTER.test(ch);
}

/** Go's unicode.IsDigit (decimal digits of any script). */
export function isDigit(ch: string): boolean {
  return DIGIT.test(ch);
}

/** Go's strings.TrimLeftFunc(s, unicode.IsSpace). */
export function trimLeftSpace(s: string): string {
  return s.replace(LEADING_SPACE, '');
}

/** Go's strings.TrimSpace. */
export function trimSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/** 1-based column of a code-unit offset, counted in characters (code points). */
export function columnOf(line: string, offset: number): number {
  return Array.from(line.slice(0, Math.max(0, offset))).length + 1;
}
