/**
 * COPY/ADD sources in the build context and where they land in the image, with BuildKit's rules:
 * sources are relative to the context root (a leading '/' or '../' cannot leave it, symlinks are
 * resolved inside it), wildcards follow Go's filepath.Match per path component, a directory
 * source copies its contents, a file copied to a directory keeps its name, several sources need
 * a directory destination, and `--parents` keeps the source path below an optional `/./` pivot.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { rootPath } from '../../util/rootpath.js';
import type { IgnoreMatcher } from './ignore.js';
import { createMatcher } from './ignore.js';
import { cleanPath, containsWildcards, matchGlob, PatternList } from './pattern.js';
import { holdsVisible, joinRel, type SourceFilter, unreadable, visibility } from './visibility.js';

export type SourceType = 'file' | 'directory' | 'symlink' | 'other';

export interface ResolvedSource {
  /** The `<src>` argument as written. */
  readonly spec: string;
  /** Context-relative path as named (wildcards matched, symlinks not followed; '' for the root). */
  readonly path: string;
  /** Context-relative path actually read (symlinks followed inside the context). */
  readonly realPath: string;
  /** Absolute path of `realPath` on disk. */
  readonly abs: string;
  readonly type: SourceType;
  /** True when the source came from a wildcard match. */
  readonly wildcard: boolean;
  /** With `--parents`: the pivot directory (context-relative) and the path kept below it. */
  readonly parents?: { readonly pivot: string; readonly path: string };
  /** The `.dockerignore` and `--exclude` rules the source's contents are walked with. */
  readonly filter: SourceFilter;
}

export interface ResolveOptions extends IoOptions {
  /** The build's `.dockerignore` (see loadIgnore). */
  readonly ignore?: IgnoreMatcher;
  /** `--exclude` patterns, matched relative to each source (the wildcard's directory for a match). */
  readonly exclude?: readonly string[];
  /** Follow a source that is itself a symlink (default true, as COPY does). */
  readonly followSymlinks?: boolean;
  /** `--parents`: keep each source's path below the context root or below a `/./` pivot. */
  readonly parents?: boolean;
  /**
   * A wildcard that matches nothing copies nothing (default true: BuildKit's AllowEmptyWildcard).
   * The directory a wildcard searches must still exist. False makes no match an error, as buildah does.
   */
  readonly allowEmptyWildcard?: boolean;
}

interface Context {
  readonly root: string;
  readonly filter: SourceFilter;
  readonly follow: boolean;
  readonly signal: AbortSignal | undefined;
}

function typeOf(stat: Stats): SourceType {
  if (stat.isDirectory()) return 'directory';
  if (stat.isFile()) return 'file';
  if (stat.isSymbolicLink()) return 'symlink';
  return 'other';
}

async function lstatOrUndefined(abs: string): Promise<Stats | undefined> {
  try {
    return await lstat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw unreadable(abs, err);
  }
}

function quoted(path: string): string {
  return JSON.stringify(path === '' ? '.' : path);
}

function notFound(path: string, ctx: Context, detail?: string): GantryError {
  return new GantryError(
    'COPY_SOURCE_NOT_FOUND',
    `COPY source ${quoted(path)} not found in the build context${detail ? ` (${detail})` : ''}`,
    {
      phase: 'build',
      suggestion: `sources are relative to the build context ${ctx.root}; check the path and the context directory`,
    },
  );
}

function ignoredSource(path: string, ctx: Context, hiddenPath: string): GantryError {
  const file = ctx.filter.ignore?.file ?? '.dockerignore';
  return new GantryError(
    'COPY_SOURCE_NOT_FOUND',
    `COPY source ${quoted(path)} not found in the build context: ${quoted(hiddenPath)} is excluded by ${file}`,
    {
      phase: 'build',
      suggestion: `remove the pattern that matches it from ${file} or add an exception line "!${hiddenPath}"`,
    },
  );
}

/** Whether a context path is there for COPY at all (`.dockerignore` only; `--exclude` is per source). */
async function inContext(ctx: Context, contextPath: string, abs: string, isDir: boolean): Promise<boolean> {
  if (contextPath === '') return true;
  const v = visibility({ ignore: ctx.filter.ignore, exclude: undefined }, contextPath, undefined, isDir);
  if (v !== 'walk') return v === 'visible';
  return holdsVisible({ ignore: ctx.filter.ignore, exclude: undefined }, { abs, contextPath, excludePath: '' });
}

async function excludedByFlag(ctx: Context, excludePath: string, abs: string, isDir: boolean): Promise<boolean> {
  if (ctx.filter.exclude === undefined || excludePath === '') return false;
  const filter = { ignore: undefined, exclude: ctx.filter.exclude };
  const v = visibility(filter, '', excludePath, isDir);
  if (v !== 'walk') return v === 'hidden';
  return !(await holdsVisible(filter, { abs, contextPath: '', excludePath }));
}

interface Found {
  readonly path: string;
  readonly realPath: string;
  readonly stat: Stats;
}

/** Resolves one named context path, following symlinks inside the context; throws when it is not there. */
async function resolveNamed(ctx: Context, named: string, spec: string, literal: boolean): Promise<Found> {
  const rooted = await rootPath(ctx.root, named, { followLast: ctx.follow });
  const abs = join(ctx.root, rooted.path);
  const stat = await lstatOrUndefined(abs);
  if (stat === undefined) {
    const lastLink = rooted.links.at(-1);
    if (lastLink !== undefined) {
      throw notFound(
        literal ? spec : named,
        ctx,
        `it resolves through symlink ${quoted(lastLink)} to ${quoted(rooted.path)}, and symlinks resolve inside the context`,
      );
    }
    throw notFound(literal ? spec : named, ctx);
  }
  for (const link of rooted.links) {
    if (!(await inContext(ctx, link, join(ctx.root, link), false))) throw ignoredSource(spec, ctx, link);
  }
  if (!(await inContext(ctx, rooted.path, abs, stat.isDirectory()))) throw ignoredSource(spec, ctx, rooted.path);
  return { path: named, realPath: rooted.path, stat };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Matches `parts` (Go filepath.Match, one component each) below `dir`, depth-first in byte order as Go's Walk. */
async function matchWildcard(ctx: Context, dir: string, parts: readonly string[], spec: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string, depth: number): Promise<void> => {
    throwIfAborted(ctx.signal);
    const pattern = parts[depth] as string;
    let names: string[];
    try {
      names = (await readdir(join(ctx.root, rel))).sort(byteOrder);
    } catch (err) {
      throw unreadable(rel, err);
    }
    for (const name of names) {
      let hit: boolean;
      try {
        hit = matchGlob(pattern, name);
      } catch (err) {
        throw new GantryError('INVALID_PATTERN', `COPY source ${JSON.stringify(spec)}: ${(err as Error).message}`, {
          phase: 'parse',
          suggestion: 'close every "[" in the source; a literal "[" is written "[[]"',
          cause: err,
        });
      }
      if (!hit) continue;
      const child = joinRel(rel, name);
      if (depth === parts.length - 1) {
        out.push(child);
        continue;
      }
      const stat = await lstat(join(ctx.root, child));
      // Go's Walk does not descend through symlinks; a hidden directory is not in the context.
      if (stat.isDirectory() && (await inContext(ctx, child, join(ctx.root, child), true))) {
        await visit(child, depth + 1);
      }
    }
  };
  await visit(dir, 0);
  return out;
}

function source(spec: string, found: Found, ctx: Context, wildcard: boolean): ResolvedSource {
  return {
    spec,
    path: found.path,
    realPath: found.realPath,
    abs: join(ctx.root, found.realPath),
    type: typeOf(found.stat),
    wildcard,
    filter: ctx.filter,
  };
}

/** Splits a normalized context path at its first component holding a wildcard. */
function splitWildcards(rel: string): { base: string; rest: string[] } | undefined {
  const parts = rel === '' ? [] : rel.split('/');
  const at = parts.findIndex(containsWildcards);
  if (at < 0) return undefined;
  return { base: parts.slice(0, at).join('/'), rest: parts.slice(at) };
}

/** A context-relative form of a source argument: '/' and '../' cannot leave the context. */
function normalizeSource(spec: string): string {
  return cleanPath(`/${spec}`).slice(1);
}

async function resolvePlain(ctx: Context, spec: string, allowEmpty: boolean): Promise<ResolvedSource[]> {
  const rel = normalizeSource(spec);
  const split = splitWildcards(rel);
  if (split === undefined) {
    const found = await resolveNamed(ctx, rel, spec, true);
    const name = rel.split('/').at(-1) ?? '';
    if (await excludedByFlag(ctx, name, join(ctx.root, found.realPath), found.stat.isDirectory())) return [];
    return [source(spec, found, ctx, false)];
  }
  // The directory a wildcard searches must exist (BuildKit fails with lstat on it too).
  const base = await rootPath(ctx.root, split.base);
  const baseStat = await lstatOrUndefined(join(ctx.root, base.path));
  if (baseStat === undefined) throw notFound(split.base, ctx, `the directory ${JSON.stringify(spec)} searches`);
  const out: ResolvedSource[] = [];
  if (baseStat.isDirectory() && (await inContext(ctx, base.path, join(ctx.root, base.path), true))) {
    for (const match of await matchWildcard(ctx, base.path, split.rest, spec)) {
      const matchStat = await lstat(join(ctx.root, match));
      if (!(await inContext(ctx, match, join(ctx.root, match), matchStat.isDirectory()))) continue;
      const found = await resolveNamed(ctx, match, spec, false);
      const below = match.slice(base.path === '' ? 0 : base.path.length + 1);
      if (await excludedByFlag(ctx, below, join(ctx.root, found.realPath), found.stat.isDirectory())) continue;
      out.push(source(spec, found, ctx, true));
    }
  }
  if (out.length === 0 && !allowEmpty) {
    throw notFound(rel, ctx, 'no file matches the wildcard');
  }
  return out;
}

/** `--parents`: everything below each pivot that the pattern names, keeping its path below the pivot. */
async function resolveParents(ctx: Context, spec: string, allowEmpty: boolean): Promise<ResolvedSource[]> {
  const cut = spec.indexOf('/./');
  const pivotSpec = cut < 0 ? '/' : spec.slice(0, cut);
  const pattern = normalizeSource(cut < 0 ? spec : spec.slice(cut + 3));
  const pivots = containsWildcards(pivotSpec)
    ? await resolvePlain(ctx, pivotSpec, allowEmpty)
    : [source(spec, await resolveNamed(ctx, normalizeSource(pivotSpec), spec, true), ctx, false)];
  const out: ResolvedSource[] = [];
  for (const pivot of pivots) {
    if (pivot.type !== 'directory') {
      throw new GantryError('COPY_PARENTS_PIVOT', `COPY --parents pivot ${quoted(pivot.path)} is not a directory`, {
        phase: 'build',
        suggestion: 'put "/./" after a directory, e.g. "src/./app/main.go"',
      });
    }
    const base = { ...pivot, spec, wildcard: pivot.wildcard || containsWildcards(pattern) };
    if (pattern === '') {
      out.push({ ...base, parents: { pivot: pivot.realPath, path: '' } });
      continue;
    }
    const include = PatternList.parse([pattern], `COPY --parents source ${JSON.stringify(spec)}`);
    const only = include.patterns[0];
    if (only === undefined) continue;
    const visit = async (rel: string): Promise<void> => {
      throwIfAborted(ctx.signal);
      let names: string[];
      const dirAbs = join(pivot.abs, rel);
      try {
        names = (await readdir(dirAbs)).sort(byteOrder);
      } catch (err) {
        throw unreadable(joinRel(pivot.realPath, rel), err);
      }
      for (const name of names) {
        const below = joinRel(rel, name);
        const contextPath = joinRel(pivot.realPath, below);
        const abs = join(pivot.abs, below);
        const stat = await lstat(abs);
        const isDir = stat.isDirectory();
        if (only.matchesExactly(below)) {
          if (!(await inContext(ctx, contextPath, abs, isDir))) continue;
          if (await excludedByFlag(ctx, below, abs, isDir)) continue;
          out.push({
            spec,
            path: contextPath,
            realPath: contextPath,
            abs,
            type: typeOf(stat),
            wildcard: base.wildcard,
            parents: { pivot: pivot.realPath, path: below },
            filter: ctx.filter,
          });
        } else if (isDir && include.mayMatchBelow(below) && (await inContext(ctx, contextPath, abs, true))) {
          await visit(below);
        }
      }
    };
    await visit('');
  }
  if (out.length === 0 && !(allowEmpty && containsWildcards(spec))) {
    throw notFound(normalizeSource(spec.replace('/./', '/')), ctx);
  }
  return out;
}

/**
 * Resolves COPY/ADD `<src>` arguments in `contextDir`, in argument order (a wildcard's matches in
 * byte order): what the copy reads, as the engine plans and checksums it. Throws GantryError
 * 'COPY_SOURCE_NOT_FOUND' (naming the path relative to the context, and `.dockerignore` when it
 * hides the path) or 'INVALID_PATTERN'.
 */
export async function resolveSources(
  contextDir: string,
  sources: readonly string[],
  options: ResolveOptions = {},
): Promise<ResolvedSource[]> {
  throwIfAborted(options.signal);
  let root: string;
  try {
    root = await realpath(contextDir);
  } catch (err) {
    throw new GantryError('CONTEXT_NOT_FOUND', `build context ${contextDir} does not exist`, {
      phase: 'build',
      suggestion: 'pass an existing directory as the build context',
      cause: err,
    });
  }
  const exclude =
    options.exclude && options.exclude.length > 0 ? createMatcher(options.exclude, { file: '--exclude' }) : undefined;
  const ctx: Context = {
    root,
    filter: { ignore: options.ignore, exclude },
    follow: options.followSymlinks ?? true,
    signal: options.signal,
  };
  const allowEmpty = options.allowEmptyWildcard ?? true;
  const out: ResolvedSource[] = [];
  for (const spec of sources) {
    out.push(
      ...(options.parents ? await resolveParents(ctx, spec, allowEmpty) : await resolvePlain(ctx, spec, allowEmpty)),
    );
  }
  return out;
}

export type CopyPlanEntryKind =
  /** A directory's contents into `target` (created 0755 when missing); the directory itself is not copied. */
  | 'contents'
  /** A directory copied as itself (its metadata) with its contents: `--parents` matches. */
  | 'tree'
  /** A file, symlink or special file at `target`. */
  | 'item'
  /** A directory's metadata only: the parents `--parents` keeps above a match. */
  | 'parent';

export interface CopyPlanEntry {
  readonly kind: CopyPlanEntryKind;
  /** Absolute path read on disk. */
  readonly source: string;
  /** Context-relative path read (for `.dockerignore` below it and for messages). */
  readonly sourcePath: string;
  readonly type: SourceType;
  /** Absolute path in the image. */
  readonly target: string;
  /** The path `--exclude` sees for this entry's directory ('' for a source root). */
  readonly excludePath: string;
  /** The rules its contents are walked with; the plan's when unset. */
  readonly filter?: SourceFilter;
  /**
   * An `item` written as the destination itself: the source's name, under which it goes into the
   * destination instead when the stage has a directory there (`COPY a.txt /tmp`).
   */
  readonly intoExisting?: string;
}

export interface CopyPlan {
  /** The destination as an absolute, cleaned image path. */
  readonly dest: string;
  /** In argument order; a later entry wins where two write the same path. */
  readonly entries: readonly CopyPlanEntry[];
  /** The rules entries without their own filter are walked with. */
  readonly filter: SourceFilter;
}

const NO_FILTER: SourceFilter = { ignore: undefined, exclude: undefined };

/**
 * One plan of several (context files, heredocs, downloads: each resolved in its own root), in
 * order, so that copyEntries writes them as one sorted layer where later plans win.
 */
export function mergePlans(plans: readonly CopyPlan[]): CopyPlan {
  return {
    dest: plans[0]?.dest ?? '/',
    entries: plans.flatMap((p) => p.entries.map((e) => ({ ...e, filter: e.filter ?? p.filter }))),
    filter: NO_FILTER,
  };
}

export interface PlanOptions {
  /** The destination exists as a directory in the stage (so a file source goes inside it). */
  readonly destIsDirectory?: boolean;
}

/** Docker's directory forms of a destination: '', '.', a trailing '/', '/.' or '..'. */
function namesDirectory(dest: string): boolean {
  if (dest === '' || dest.endsWith('/')) return true;
  const last = dest.split('/').at(-1);
  return last === '.' || last === '..';
}

/**
 * Where each resolved source lands under `dest` (relative to `workdir` unless absolute): a
 * directory's contents go into the target, a file into `dest/` keeps its name, a file to a
 * non-directory `dest` is written as `dest`; several sources need `dest` in directory form
 * (error 'COPY_DEST_NOT_DIR'). With `--parents` the path below the pivot is kept.
 */
export function planCopy(
  resolved: readonly ResolvedSource[],
  dest: string,
  workdir = '/',
  options: PlanOptions = {},
): CopyPlan {
  const target = cleanPath(dest.startsWith('/') ? dest : posix.join('/', workdir, dest));
  const parentsMode = resolved.some((r) => r.parents !== undefined);
  const dirForm = namesDirectory(dest) || target === '/';
  if (resolved.length > 1 && !dirForm && !parentsMode) {
    throw new GantryError(
      'COPY_DEST_NOT_DIR',
      `COPY with ${resolved.length} sources needs a directory destination ending in "/", got ${JSON.stringify(dest)}`,
      { phase: 'build', suggestion: `write the destination as "${dest}/"` },
    );
  }
  const intoDir = dirForm || options.destIsDirectory === true;
  const entries: CopyPlanEntry[] = [];
  const parentsSeen = new Set<string>();
  const under = (path: string): string => (path === '' ? target : posix.join(target, path));
  for (const r of resolved) {
    if (r.parents !== undefined) {
      const parts = r.parents.path === '' ? [] : r.parents.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const below = parts.slice(0, i).join('/');
        const sourcePath = joinRel(r.parents.pivot, below);
        if (parentsSeen.has(sourcePath)) continue;
        parentsSeen.add(sourcePath);
        entries.push({
          kind: 'parent',
          source: join(r.abs.slice(0, r.abs.length - r.parents.path.length), below),
          sourcePath,
          type: 'directory',
          target: under(below),
          excludePath: below,
          filter: r.filter,
        });
      }
      const kind = r.type !== 'directory' ? 'item' : r.parents.path === '' ? 'contents' : 'tree';
      entries.push({
        kind,
        source: r.abs,
        sourcePath: r.realPath,
        type: r.type,
        target: under(r.parents.path),
        excludePath: r.parents.path,
        filter: r.filter,
      });
      continue;
    }
    if (r.type === 'directory') {
      entries.push({
        kind: 'contents',
        source: r.abs,
        sourcePath: r.realPath,
        type: r.type,
        target,
        excludePath: '',
        filter: r.filter,
      });
    } else {
      const name = r.path.split('/').at(-1) ?? '';
      entries.push({
        kind: 'item',
        source: r.abs,
        sourcePath: r.realPath,
        type: r.type,
        target: intoDir ? posix.join(target, name) : target,
        excludePath: name,
        filter: r.filter,
        ...(intoDir ? {} : { intoExisting: name }),
      });
    }
  }
  return { dest: target, entries, filter: resolved[0]?.filter ?? NO_FILTER };
}
