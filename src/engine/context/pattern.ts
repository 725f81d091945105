/**
 * Path patterns as Docker reads them: Go's filepath.Match syntax (what COPY sources and
 * `--exclude` use, one path component at a time), and moby/patternmatcher's extension of it for
 * `.dockerignore` and `--parents` include patterns (`**` spans directories; a path also matches
 * when one of its parents does). Patterns are compiled to anchored RegExps on code points.
 */
import { posix } from 'node:path';
import { GantryError } from '../../errors.js';

type Token =
  | { readonly kind: 'literal'; readonly cp: number }
  | { readonly kind: 'star' }
  | { readonly kind: 'any' }
  | { readonly kind: 'class'; readonly negated: boolean; readonly ranges: readonly (readonly [number, number])[] };

/** A pattern Go's filepath.Match would reject with ErrBadPattern. */
export class BadPatternError extends Error {
  constructor(pattern: string, reason: string) {
    super(`bad pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'BadPatternError';
  }
}

/** Go's path.Clean: lexical, no trailing slash, '' -> '.'. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** True when a path component holds `*`, `?` or `[` that is not escaped (fsutil's containsWildcards). */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** Reads one character of a class range (`getEsc` in Go): escapes allowed, '-' and ']' not. */
function classChar(cps: readonly number[], at: number, pattern: string): { cp: number; next: number } {
  let i = at;
  const first = cps[i];
  if (first === undefined || first === 0x2d || first === 0x5d)
    throw new BadPatternError(pattern, 'bad character class');
  if (first === 0x5c) {
    i++;
    if (cps[i] === undefined) throw new BadPatternError(pattern, 'trailing backslash in class');
  }
  const cp = cps[i] as number;
  i++;
  if (cps[i] === undefined) throw new BadPatternError(pattern, 'unterminated character class');
  return { cp, next: i };
}

/** Parses `[...]` starting after the '['; returns the token and the index after ']'. */
function parseClass(cps: readonly number[], at: number, pattern: string): { token: Token; next: number } {
  let i = at;
  let negated = false;
  if (cps[i] === 0x5e) {
    negated = true;
    i++;
  }
  const ranges: [number, number][] = [];
  for (;;) {
    if (cps[i] === 0x5d && ranges.length > 0) return { token: { kind: 'class', negated, ranges }, next: i + 1 };
    const lo = classChar(cps, i, pattern);
    i = lo.next;
    let hi = lo.cp;
    if (cps[i] === 0x2d) {
      const h = classChar(cps, i + 1, pattern);
      hi = h.cp;
      i = h.next;
    }
    ranges.push([lo.cp, hi]);
  }
}

/** Tokenizes a Go filepath.Match pattern, rejecting what Go rejects. */
function parseGlob(pattern: string): Token[] {
  const cps = Array.from(pattern, (c) => c.codePointAt(0) as number);
  const out: Token[] = [];
  for (let i = 0; i < cps.length; ) {
    const cp = cps[i] as number;
    if (cp === 0x2a) {
      out.push({ kind: 'star' });
      i++;
    } else if (cp === 0x3f) {
      out.push({ kind: 'any' });
      i++;
    } else if (cp === 0x5b) {
      const { token, next } = parseClass(cps, i + 1, pattern);
      out.push(token);
      i = next;
    } else if (cp === 0x5c) {
      const escaped = cps[i + 1];
      if (escaped === undefined) throw new BadPatternError(pattern, 'trailing backslash');
      out.push({ kind: 'literal', cp: escaped });
      i += 2;
    } else {
      out.push({ kind: 'literal', cp });
      i++;
    }
  }
  return out;
}

/** Throws BadPatternError when Go's filepath.Match would return ErrBadPattern for `pattern`. */
export function validateGlob(pattern: string): void {
  parseGlob(pattern);
}

function literalSource(cp: number): string {
  const ch = String.fromCodePoint(cp);
  return /^[A-Za-z0-9_]$/.test(ch) ? ch : `\\u{${cp.toString(16)}}`;
}

function classSource(token: Extract<Token, { kind: 'class' }>): string {
  // Go lets a reversed range match nothing; a RegExp rejects it, so it is left out.
  const parts = token.ranges
    .filter(([lo, hi]) => lo <= hi)
    .map(([lo, hi]) => (lo === hi ? `\\u{${lo.toString(16)}}` : `\\u{${lo.toString(16)}}-\\u{${hi.toString(16)}}`));
  return `[${token.negated ? '^' : ''}${parts.join('')}]`;
}

function tokenSource(token: Token): string {
  switch (token.kind) {
    case 'literal':
      return literalSource(token.cp);
    case 'star':
      return '[^/]*';
    case 'any':
      return '[^/]';
    case 'class':
      return classSource(token);
  }
}

const globCache = new Map<string, RegExp>();

/** Go's filepath.Match(pattern, name) on '/'-separated paths. Throws BadPatternError. */
export function matchGlob(pattern: string, name: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^${parseGlob(pattern).map(tokenSource).join('')}$`, 'u');
    if (globCache.size > 4096) globCache.clear();
    globCache.set(pattern, re);
  }
  return re.test(name);
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

/**
 * One compiled patternmatcher pattern (already cleaned, without its '!'). The match types and
 * their quirks follow moby/patternmatcher: a leading `**` makes a suffix match (so `**file`
 * matches `xfile`), a trailing `**` after literal text a prefix match.
 */
export class PathPattern {
  readonly source: string;
  readonly exclusion: boolean;
  readonly #type: MatchType;
  readonly #regexp: RegExp | undefined;
  readonly #components: readonly string[];
  readonly #spansDirs: boolean;

  constructor(cleaned: string, exclusion: boolean) {
    this.source = cleaned;
    this.exclusion = exclusion;
    validateGlob(cleaned);
    this.#components = cleaned.split('/');
    this.#spansDirs = cleaned.includes('**');
    const cps = Array.from(cleaned, (c) => c.codePointAt(0) as number);
    let type: MatchType = 'exact';
    let re = '^';
    for (let i = 0, first = true; i < cps.length; first = false) {
      const cp = cps[i] as number;
      if (cp === 0x2a && cps[i + 1] === 0x2a) {
        i += 2;
        if (cps[i] === 0x2f) i++;
        if (i >= cps.length) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(?:.*/)?';
          type = 'regexp';
        }
        if (first) type = 'suffix';
      } else if (cp === 0x2a || cp === 0x3f) {
        re += cp === 0x2a ? '[^/]*' : '[^/]';
        type = 'regexp';
        i++;
      } else if (cp === 0x5c) {
        // validateGlob has rejected a trailing backslash.
        re += literalSource(cps[i + 1] as number);
        type = 'regexp';
        i += 2;
      } else if (cp === 0x5b) {
        const { token, next } = parseClass(cps, i + 1, cleaned);
        re += classSource(token as Extract<Token, { kind: 'class' }>);
        type = 'regexp';
        i = next;
      } else {
        re += literalSource(cp);
        i++;
      }
    }
    this.#type = type;
    this.#regexp = type === 'regexp' ? new RegExp(`${re}$`, 'u') : undefined;
  }

  /** Whether `path` itself (not a parent of it) matches. */
  matchesExactly(path: string): boolean {
    switch (this.#type) {
      case 'exact':
        return path === this.source;
      case 'prefix':
        return path.startsWith(this.source.slice(0, -2));
      case 'suffix': {
        const suffix = this.source.slice(2);
        return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
      }
      case 'regexp':
        return (this.#regexp as RegExp).test(path);
    }
  }

  /** Whether `path` or one of its parent directories matches (patternmatcher's MatchesOrParentMatches). */
  matches(path: string): boolean {
    if (this.matchesExactly(path)) return true;
    for (let at = path.indexOf('/'); at >= 0; at = path.indexOf('/', at + 1)) {
      if (this.matchesExactly(path.slice(0, at))) return true;
    }
    return false;
  }

  /**
   * Whether some path strictly below directory `dir` could match by itself. Conservative (true
   * when unsure): it decides only whether a walk must enter `dir`, never what is copied.
   */
  mayMatchBelow(dir: string): boolean {
    if (this.#spansDirs) return true;
    if (dir === '') return true;
    const parts = dir.split('/');
    if (this.#components.length <= parts.length) return false;
    return parts.every((part, i) => {
      try {
        return matchGlob(this.#components[i] as string, part);
      } catch {
        return true;
      }
    });
  }
}

/** A pattern list, later patterns winning, as patternmatcher's PatternMatcher evaluates it. */
export class PatternList {
  readonly patterns: readonly PathPattern[];
  readonly hasExclusions: boolean;

  constructor(patterns: readonly PathPattern[]) {
    this.patterns = patterns;
    this.hasExclusions = patterns.some((p) => p.exclusion);
  }

  /** Parses raw pattern strings (trimmed, cleaned, `!` for exceptions); throws GantryError. */
  static parse(raw: readonly string[], what: string): PatternList {
    const out: PathPattern[] = [];
    for (const line of raw) {
      let p = line.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) {
          throw new GantryError('INVALID_PATTERN', `${what}: illegal exception pattern "!"`, {
            phase: 'parse',
            suggestion: 'write the path to re-include after the "!", e.g. "!docs/README.md"',
          });
        }
        exclusion = true;
        p = p.slice(1);
      }
      try {
        out.push(new PathPattern(p, exclusion));
      } catch (err) {
        if (!(err instanceof BadPatternError)) throw err;
        throw new GantryError('INVALID_PATTERN', `${what}: ${err.message}`, {
          phase: 'parse',
          suggestion: 'patterns follow Go filepath.Match: close every "[", escape a literal "[" as "[[]" or "\\["',
          cause: err,
        });
      }
    }
    return new PatternList(out);
  }

  /** True when `path` is matched (directly or through a parent) and not re-included by a later exception. */
  matches(path: string): boolean {
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      if (pattern.matches(path)) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** True when an exception pattern could re-include something below directory `dir`. */
  mayReincludeBelow(dir: string): boolean {
    return this.patterns.some((p) => p.exclusion && p.mayMatchBelow(dir));
  }

  /** True when some (non-exception) pattern could match a path strictly below `dir`. */
  mayMatchBelow(dir: string): boolean {
    return this.patterns.some((p) => !p.exclusion && p.mayMatchBelow(dir));
  }
}
