/**
 * ADD of a git repository, as BuildKit reads the URL: `https://host/repo.git#REF:SUBDIR`,
 * `git://host/repo.git#REF`, `ssh://...` and `git@host:repo.git#REF`. The ref (branch, tag or
 * commit; default the remote's HEAD) is fetched shallowly with the machine's git into a temp
 * directory; the tree (or SUBDIR of it) is copied without `.git`. `--checksum` on a git source
 * is the full commit id the ref must resolve to.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { GantryError } from '../../errors.js';

/** Whether an ADD source is a git repository rather than a file URL or a context path. */
export function isGitSource(src: string): boolean {
  if (/^git@[^:]+:/.test(src) || /^git:\/\//.test(src)) return true;
  return /^(?:https?|ssh):\/\//.test(src) && /\.git(?:#.*)?$/.test(src.split('?')[0] ?? src);
}

export interface GitSource {
  readonly remote: string;
  readonly ref?: string;
  readonly subdir?: string;
}

export function parseGitSource(src: string): GitSource {
  const hash = src.indexOf('#');
  const remote = hash < 0 ? src : src.slice(0, hash);
  const fragment = hash < 0 ? '' : src.slice(hash + 1);
  const [ref, subdir] = fragment.split(':', 2) as [string, string | undefined];
  return { remote, ...(ref ? { ref } : {}), ...(subdir ? { subdir } : {}) };
}

function fail(message: string, suggestion: string, cause?: unknown): GantryError {
  return new GantryError('ADD_GIT_FAILED', message, { phase: 'build', suggestion, ...(cause ? { cause } : {}) });
}

function git(args: string[], cwd: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      ...(signal ? { signal } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', (e) => reject(e));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(err.trim() || `git exited ${code}`))));
  });
}

/** Fetches the repository at its ref; returns the directory to copy from and the commit. */
export async function fetchGit(
  src: string,
  checksum: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ dir: string; root: string; commit: string }> {
  const { remote, ref, subdir } = parseGitSource(src);
  const dir = await mkdtemp(join(tmpdir(), 'gantry-git-'));
  try {
    try {
      await git(['init', '-q'], dir, signal);
      await git(['fetch', '-q', '--depth', '1', '--no-tags', remote, ref ?? 'HEAD'], dir, signal);
      await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', 'FETCH_HEAD'], dir, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw fail(`ADD ${src}: git is not installed`, 'install git, or ADD a tarball URL instead', err);
      }
      throw fail(`ADD ${src}: ${(err as Error).message}`, 'check the repository URL and the ref after #', err);
    }
    const commit = (await git(['rev-parse', 'HEAD'], dir, signal)).trim();
    if (checksum !== undefined && checksum !== commit) {
      throw new GantryError('ADD_CHECKSUM_MISMATCH', `ADD ${src}: commit ${commit} is not the --checksum ${checksum}`, {
        phase: 'build',
        suggestion: 'the ref moved, or the --checksum is wrong',
      });
    }
    await rm(join(dir, '.git'), { recursive: true, force: true });
    const root = subdir ? join(dir, posix.normalize(`/${subdir}`)) : dir;
    if (!(await stat(root).catch(() => undefined))?.isDirectory()) {
      throw fail(`ADD ${src}: ${subdir} is not a directory of the repository`, 'check the path after #REF:');
    }
    return { dir, root, commit };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
