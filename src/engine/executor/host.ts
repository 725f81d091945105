/**
 * The host side of the sandboxes: finding the host tools they are built from (bwrap, unshare,
 * GNU chroot and env) and the "switcher", the pair of host binaries that runs last inside every
 * sandbox to set the user's ids and environment. The rootfs may have no shell and no libc (FROM
 * scratch) or a libc we must not load, so the switcher is the host's own coreutils `chroot`
 * (setgroups/setgid/setuid) and `env` (a clean environment, default signal dispositions), started
 * through the host's dynamic loader with the host's libraries bind-mounted beside them, never the
 * image's.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { GantryError } from '../../errors.js';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The PATH given to the host tools the sandboxes run (never the build's PATH). */
export const HOST_PATH = SYSTEM_DIRS.join(':');

export interface HostResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a host tool to completion and collects its output; never rejects on a non-zero exit. */
export function execHost(cmd: string, args: readonly string[], signal?: AbortSignal): Promise<HostResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { PATH: HOST_PATH, LC_ALL: 'C' }, signal, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(err);
          return;
        }
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The absolute path of a host executable, searching PATH and then the sbin directories a user's
 * PATH often lacks (Debian's chroot is /usr/sbin/chroot). The bin directories are not added: a
 * PATH without them is a choice (fresh-path.sh hides bwrap that way), and `gantry info` and the
 * sandbox detection must agree with it.
 */
export async function findTool(name: string): Promise<string | undefined> {
  const path = (process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/'));
  const dirs = path.length > 0 ? [...path, ...SYSTEM_DIRS.filter((d) => d.endsWith('sbin'))] : SYSTEM_DIRS;
  for (const dir of new Set(dirs)) {
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

export async function requireTool(name: string, why: string): Promise<string> {
  const p = await findTool(name);
  if (!p) {
    throw new GantryError('SANDBOX_TOOL_MISSING', `${name} is not installed (${why})`, {
      phase: 'build',
      suggestion: `install ${name === 'bwrap' ? 'bubblewrap' : name === 'chroot' || name === 'env' ? 'coreutils' : 'util-linux'} or choose another --isolation`,
    });
  }
  return p;
}

/** One file the switcher needs, and the name it gets in the sandbox's helper directory. */
export interface HelperFile {
  readonly source: string;
  /** Relative to the helper directory: `ld.so`, `lib/libc.so.6`, `chroot`, `env`. */
  readonly name: string;
}

export interface Switcher {
  readonly files: readonly HelperFile[];
  /** Has a dynamic loader (the tools are dynamically linked). */
  readonly dynamic: boolean;
  /** The loader takes --argv0 (glibc 2.33+), so messages name the tool, not its path in the sandbox. */
  readonly argv0: boolean;
}

/** Parses `ldd` output: the loader and the libraries a binary needs (no vDSO). */
export function parseLdd(text: string): { loader?: string; libs: string[] } {
  const libs: string[] = [];
  let loader: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const arrow = /^(\S+)\s+=>\s+(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (arrow) {
      libs.push(arrow[2]!);
      continue;
    }
    const bare = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (bare) loader = bare[1]!;
  }
  return loader === undefined ? { libs } : { loader, libs };
}

async function linkage(binary: string): Promise<{ loader?: string; libs: string[] }> {
  const ldd = await findTool('ldd');
  if (!ldd) return { libs: [] };
  const res = await execHost(ldd, [binary]);
  if (res.code !== 0) {
    if (/not a dynamic executable|statically linked/.test(res.stdout + res.stderr)) return { libs: [] };
    throw new GantryError('SANDBOX_HELPER', `cannot list the libraries of ${binary}: ${res.stderr.trim()}`, {
      phase: 'build',
      suggestion: 'gantry needs the host glibc ldd to run RUN steps; reinstall libc-bin',
    });
  }
  return parseLdd(res.stdout);
}

let switcherPromise: Promise<Switcher> | undefined;

/** The host files the switcher needs (memoized: they do not change while gantry runs). */
export function switcher(): Promise<Switcher> {
  switcherPromise ??= (async () => {
    const files = new Map<string, string>();
    let loader: string | undefined;
    for (const tool of ['chroot', 'env']) {
      const path = await requireTool(tool, 'gantry switches user and environment with the host coreutils');
      files.set(tool, path);
      const l = await linkage(path);
      if (l.libs.length > 0 && !l.loader) {
        throw new GantryError('SANDBOX_HELPER', `cannot find the dynamic loader of ${path}`, {
          phase: 'build',
          suggestion: 'run `ldd` on it to see why; gantry expects a glibc host',
        });
      }
      loader ??= l.loader;
      for (const lib of l.libs) files.set(`lib/${basename(lib)}`, lib);
    }
    let argv0 = false;
    if (loader) {
      files.set('ld.so', loader);
      const help = await execHost(loader, ['--help']).catch(() => undefined);
      argv0 = help?.stdout.includes('--argv0') === true;
    }
    return { files: [...files].map(([name, source]) => ({ name, source })), dynamic: loader !== undefined, argv0 };
  })();
  switcherPromise.catch(() => {
    switcherPromise = undefined;
  });
  return switcherPromise;
}

/** argv that runs switcher tool `tool` from helper directory `dir` (as seen inside the sandbox). */
export function helperArgv(sw: Switcher, dir: string, tool: 'chroot' | 'env', args: readonly string[]): string[] {
  if (!sw.dynamic) return [`${dir}/${tool}`, ...args];
  // --inhibit-cache: never read the image's /etc/ld.so.cache; --library-path wins over LD_LIBRARY_PATH.
  const argv0 = sw.argv0 ? ['--argv0', tool] : [];
  return [`${dir}/ld.so`, '--inhibit-cache', '--library-path', `${dir}/lib`, ...argv0, `${dir}/${tool}`, ...args];
}

/**
 * The switcher chain: set ids and groups (when `ids` is given), then exec `args` with exactly
 * `env`. The chain never passes the build's environment to a host binary: LD_PRELOAD from an
 * ENV line must reach only the command.
 */
export function switcherArgv(
  sw: Switcher,
  dir: string,
  ids: { uid: number; gid: number; groups: readonly number[] } | undefined,
  env: readonly string[],
  args: readonly string[],
): string[] {
  const envArgv = helperArgv(sw, dir, 'env', ['-i', '--default-signal', '--', ...env, ...args]);
  if (!ids) return envArgv;
  const userspec = `--userspec=+${ids.uid}:+${ids.gid}`;
  const groups = `--groups=${ids.groups.map((g) => `+${g}`).join(',')}`;
  return helperArgv(sw, dir, 'chroot', ['--skip-chdir', userspec, groups, '/', ...envArgv]);
}
