/**
 * Which sandbox this machine allows. Each candidate is tried for real (a no-op run with the same
 * namespaces a RUN gets), because an installed tool proves nothing inside a container that
 * forbids namespaces. The answer is cached for the life of the process.
 */
import { GantryError } from '../../errors.js';
import { execHost, findTool, isRoot } from './host.js';
import type { Isolation } from './types.js';

async function bwrapWorks(): Promise<boolean> {
  const bwrap = await findTool('bwrap');
  if (!bwrap) return false;
  const user = isRoot() ? [] : ['--unshare-user'];
  const res = await execHost(bwrap, [
    ...user,
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--die-with-parent',
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--',
    'true',
  ]).catch(() => undefined);
  return res?.code === 0;
}

async function unshareWorks(): Promise<boolean> {
  const [unshare, chroot, sh] = await Promise.all([findTool('unshare'), findTool('chroot'), findTool('sh')]);
  if (!unshare || !chroot || !sh) return false;
  const user = isRoot() ? [] : ['--user', '--map-root-user'];
  const res = await execHost(unshare, [
    ...user,
    '--mount',
    '--pid',
    '--ipc',
    '--uts',
    '--fork',
    '--kill-child',
    '--',
    sh,
    '-c',
    'mount -t tmpfs tmpfs /mnt && mount -t proc proc /proc',
  ]).catch(() => undefined);
  return res?.code === 0;
}

/** Is `isolation` usable here? `none` only needs root. */
export async function isolationAvailable(isolation: Isolation): Promise<boolean> {
  switch (isolation) {
    case 'bwrap':
      return bwrapWorks();
    case 'chroot':
      return unshareWorks();
    case 'none':
      return isRoot() && (await findTool('unshare')) !== undefined;
  }
}

let detected: Promise<Isolation> | undefined;

/**
 * The strongest sandbox available: bwrap, then unshare + chroot. Never `none`, which must be
 * chosen explicitly: it isolates nothing but the filesystem root.
 */
export function detectIsolation(): Promise<Isolation> {
  detected ??= (async (): Promise<Isolation> => {
    if (await bwrapWorks()) return 'bwrap';
    if (await unshareWorks()) return 'chroot';
    throw new GantryError(
      'NO_SANDBOX',
      'no sandbox for RUN steps: neither bubblewrap nor unshare can create namespaces here',
      {
        phase: 'build',
        suggestion:
          'install bubblewrap or util-linux, allow user namespaces (sysctl kernel.unprivileged_userns_clone=1), or inside a container run as root with --isolation=none',
      },
    );
  })();
  detected.catch(() => {
    detected = undefined;
  });
  return detected;
}
