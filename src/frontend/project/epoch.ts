/**
 * The time a project build stamps on its files, config and history, so the same source gives
 * the same digest on any machine: SOURCE_DATE_EPOCH when set, else the time of the last git commit that touched the context
 * (when git and a repository are there; neither is required), else the Unix epoch.
 *
 * Asking git costs a process (tens of ms of CPU, more wall on a loaded machine) on every build,
 * a fixed cost of a no-change rebuild. The answer depends only on the HEAD commit and the
 * directory, so with a cache directory it is kept by (HEAD commit, directory), HEAD being read
 * from the repository's files (HEAD, the ref, packed-refs; worktrees too): an unchanged checkout
 * asks git nothing. A shallow clone is never cached (a deeper fetch changes the history under
 * the same HEAD), and whatever the files do not say plainly falls back to asking git. A context
 * that no repository can hold (no .git above it) asks git nothing either.
 */
import { execFile } from 'node:child_process';
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { sourceDateEpoch } from '../../layer/walk.js';
import { writeFileAtomic } from '../../util/fs.js';

export interface SourceEpoch {
  /** Seconds since 1970. */
  readonly seconds: number;
  /** RFC 3339, for `created` in the config and history. */
  readonly created: string;
  readonly why: string;
}

function lastCommitTime(dir: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['-C', dir, 'log', '-1', '--format=%ct', '--', '.'], { timeout: 10_000 }, (err, stdout) => {
      const t = err ? Number.NaN : Number(stdout.trim());
      resolve(Number.isInteger(t) && t >= 0 && stdout.trim() !== '' ? t : undefined);
    });
  });
}

async function text(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

const OID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The HEAD commit of the repository holding `dir`, read from its files; undefined when unsure. */
export async function headCommit(dir: string): Promise<{ readonly commit: string; readonly top: string } | undefined> {
  for (let top = dir; ; top = dirname(top)) {
    const dotGit = join(top, '.git');
    let gitDir: string | undefined;
    const file = await text(dotGit);
    if (file !== undefined) {
      const m = /^gitdir: (.+)$/m.exec(file);
      if (!m) return undefined;
      gitDir = resolve(top, (m[1] as string).trim());
    } else if ((await text(join(dotGit, 'HEAD'))) !== undefined) gitDir = dotGit;
    if (gitDir) {
      const common = (await text(join(gitDir, 'commondir')))?.trim();
      const commonDir = common ? (isAbsolute(common) ? common : resolve(gitDir, common)) : gitDir;
      if ((await text(join(commonDir, 'shallow'))) !== undefined) return undefined;
      const head = (await text(join(gitDir, 'HEAD')))?.trim();
      if (head === undefined) return undefined;
      if (OID.test(head)) return { commit: head, top };
      const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
      if (!ref || ref.split('/').includes('..')) return undefined;
      for (const base of [gitDir, commonDir]) {
        const loose = (await text(join(base, ref)))?.trim();
        if (loose !== undefined) return OID.test(loose) ? { commit: loose, top } : undefined;
      }
      const packed = await text(join(commonDir, 'packed-refs'));
      const line = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
      const oid = line?.split(' ')[0];
      return oid && OID.test(oid) ? { commit: oid, top } : undefined;
    }
    if (dirname(top) === top) return undefined;
  }
}

const CACHE_FILE = 'source-epoch.json';
const CACHE_ENTRIES = 64;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Whether no git repository can hold `dir`: no `.git` in it or any parent, no parent that looks
 * like a bare repository (HEAD and objects), and no GIT_DIR / GIT_WORK_TREE in the environment.
 * Then git would only answer "not a git repository": the process is not worth its start.
 */
export async function outsideAnyRepository(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env.GIT_DIR !== undefined || env.GIT_WORK_TREE !== undefined) return false;
  for (let top = dir; ; top = dirname(top)) {
    if (await exists(join(top, '.git'))) return false;
    if ((await exists(join(top, 'HEAD'))) && (await exists(join(top, 'objects')))) return false;
    if (dirname(top) === top) return true;
  }
}

/** The last commit time, from the cache when HEAD is known and was seen before. */
async function cachedCommitTime(dir: string, cacheDir: string | undefined): Promise<number | undefined> {
  const real = await realpath(dir).catch(() => undefined);
  if (real !== undefined && (await outsideAnyRepository(real))) return undefined;
  if (cacheDir === undefined) return lastCommitTime(dir);
  const head = real === undefined ? undefined : await headCommit(real);
  if (real === undefined || head === undefined) return lastCommitTime(dir);
  const key = `${head.commit} ${relative(head.top, real) || '.'}`;
  const path = join(cacheDir, CACHE_FILE);
  let cache: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse((await text(path)) ?? '{}') as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      cache = parsed as Record<string, unknown>;
  } catch {
    cache = {};
  }
  const hit = cache[key];
  if (typeof hit === 'number' && Number.isInteger(hit) && hit >= 0) return hit;
  const t = await lastCommitTime(dir);
  // No answer (no commit touched it, or no git) is not kept: git is asked again next time.
  if (t === undefined) return undefined;
  const kept = Object.entries(cache).filter(([k]) => k !== key);
  const next = Object.fromEntries([...kept.slice(-(CACHE_ENTRIES - 1)), [key, t]]);
  // A cache that cannot be written costs the next build a git process, nothing more.
  await writeFileAtomic(path, JSON.stringify(next)).catch(() => {});
  return t;
}

function of(seconds: number, why: string): SourceEpoch {
  return { seconds, created: new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z'), why };
}

/**
 * The build's timestamp for `context`. `env` is the process environment by default; `cacheDir`
 * (the store's cache directory) keeps the git answer by HEAD commit.
 */
export async function sourceEpoch(
  context: string,
  env: NodeJS.ProcessEnv = process.env,
  cacheDir?: string,
): Promise<SourceEpoch> {
  const fromEnv = sourceDateEpoch(env);
  if (fromEnv !== undefined) return of(fromEnv, `SOURCE_DATE_EPOCH=${fromEnv}`);
  const git = await cachedCommitTime(context, cacheDir);
  if (git !== undefined) return of(git, 'the time of the last git commit');
  return of(0, 'a fixed epoch (1970-01-01): no SOURCE_DATE_EPOCH and no git history');
}
