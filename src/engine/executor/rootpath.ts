/**
 * Paths inside a root filesystem, resolved the way the kernel would resolve them after chroot:
 * symlinks are followed, but absolute targets and `..` can never climb above the root. The host
 * side of the executor uses this before it creates or reads anything in a rootfs, so an image
 * whose /etc is a symlink to /host-secret cannot make us touch the host.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../errors.js';

const MAX_LINKS = 40;

function split(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * The canonical absolute path (inside `root`) that `path` names, with every symlink that exists
 * followed. Components that do not exist are kept as written; the result has no `.` or `..`.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const resolved: string[] = [];
  let pending = split(path);
  let links = 0;
  while (pending.length > 0) {
    const part = pending[0]!;
    pending = pending.slice(1);
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, part);
    const st = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) {
        throw new GantryError('TOO_MANY_SYMLINKS', `too many symlinks resolving ${path} in the rootfs`, {
          phase: 'build',
          suggestion: 'fix the symlink loop in the image',
        });
      }
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...split(target), ...pending];
      continue;
    }
    resolved.push(part);
  }
  return `/${resolved.join('/')}`;
}

/** The host path of an in-root path returned by resolveInRoot. */
export function hostPath(root: string, inRoot: string): string {
  return join(root, inRoot);
}
