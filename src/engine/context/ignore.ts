/**
 * `.dockerignore`: reading the file Docker would read (`<Dockerfile>.dockerignore` beside the
 * Dockerfile, else `.dockerignore` at the context root), parsing it as moby's ignorefile does, and
 * matching context paths against it with patternmatcher's rules (later lines win, `!` re-includes,
 * a directory that matches excludes everything below it unless an exception re-includes it).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { cleanPath, PatternList } from './pattern.js';

export interface IgnoreMatcher {
  /** The patterns in effect, cleaned, exceptions with their leading '!'. */
  readonly patterns: readonly string[];
  /** The file the patterns came from, for messages; undefined for patterns given directly. */
  readonly file: string | undefined;
  /**
   * True when `relPath` (relative to the context root, '/'-separated) or one of its parents is
   * excluded and no later exception re-includes it. Docker does not tell files from directories
   * here (a trailing '/' in a pattern is cleaned away); `isDir` is accepted for symmetry only.
   */
  matches(relPath: string, isDir?: boolean): boolean;
  /** True when an exception pattern may re-include something below the excluded directory `relDir`: walk into it. */
  mayMatchBelow(relDir: string): boolean;
}

/** Normalizes a context-relative path as the matcher sees it: no leading '/' or './', cleaned. */
export function contextPath(relPath: string): string {
  const p = cleanPath(relPath.replace(/^\/+/, ''));
  return p === '.' ? '' : p;
}

/**
 * Lines of a .dockerignore as moby's ignorefile.ReadAll returns them: a UTF-8 BOM dropped, lines
 * starting with '#' skipped (before trimming), blank lines skipped, each pattern trimmed and
 * cleaned, a leading '/' dropped (the context root is the root), '!' kept in front.
 */
export function parseIgnoreFile(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern !== '') {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

class PatternMatcher implements IgnoreMatcher {
  readonly patterns: readonly string[];
  readonly file: string | undefined;
  readonly #list: PatternList;

  constructor(list: PatternList, file: string | undefined) {
    this.#list = list;
    this.file = file;
    this.patterns = list.patterns.map((p) => (p.exclusion ? `!${p.source}` : p.source));
  }

  matches(relPath: string, _isDir?: boolean): boolean {
    const p = contextPath(relPath);
    // Docker never lets a pattern exclude the context root itself.
    if (p === '') return false;
    return this.#list.matches(p);
  }

  mayMatchBelow(relDir: string): boolean {
    return this.#list.mayReincludeBelow(contextPath(relDir));
  }
}

/**
 * A matcher for `patterns` (lines as parseIgnoreFile returns them, or `--exclude` values).
 * Throws GantryError 'INVALID_PATTERN' for a pattern Go's filepath.Match would reject.
 */
export function createMatcher(patterns: readonly string[], options: { readonly file?: string } = {}): IgnoreMatcher {
  const what = options.file ?? 'pattern';
  return new PatternMatcher(PatternList.parse(patterns, what), options.file);
}

async function readIfExists(path: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', signal });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if ((err as Error).name === 'AbortError') throwIfAborted(signal);
    throw new GantryError('IGNORE_FILE_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`, {
      phase: 'build',
      suggestion: 'make the ignore file readable or remove it',
      cause: err,
    });
  }
}

/**
 * The ignore rules for a build: `<Dockerfile>.dockerignore` beside the Dockerfile when it exists
 * (BuildKit's per-Dockerfile ignore file), else `.dockerignore` at the context root, else none.
 * `dockerfilePath` is resolved against the working directory; '-' (stdin) has no ignore file.
 */
export async function loadIgnore(
  contextDir: string,
  dockerfilePath?: string,
  options: IoOptions = {},
): Promise<IgnoreMatcher> {
  throwIfAborted(options.signal);
  const candidates: string[] = [];
  if (dockerfilePath !== undefined && dockerfilePath !== '-')
    candidates.push(`${resolve(dockerfilePath)}.dockerignore`);
  candidates.push(join(resolve(contextDir), '.dockerignore'));
  for (const file of candidates) {
    const text = await readIfExists(file, options.signal);
    if (text !== undefined) return createMatcher(parseIgnoreFile(text), { file });
  }
  return createMatcher([]);
}
