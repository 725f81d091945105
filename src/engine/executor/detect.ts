/**
 * Which sandbox this machine allows. Each candidate is tried for real (a no-op run with the same
 * namespaces a RUN gets), because an installed tool proves nothing inside a container that
 * forbids namespaces. The answer is cached for the life of the process.
 */
import { existsSync } from 'node:fs';
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
let fallback: string | undefined;

/**
 * Inside a container (a Kubernetes pod sets KUBERNETES_SERVICE_HOST; docker and podman leave
 * /.dockerenv and /run/.containerenv): where an unprivileged pod cannot create namespaces.
 */
export function inContainer(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.KUBERNETES_SERVICE_HOST ?? '') !== '' || existsSync('/.dockerenv') || existsSync('/run/.containerenv');
}

/**
 * The strongest sandbox available: bwrap, then unshare + chroot. `none` only inside a container
 * that allows no namespaces, as root (Kaniko's setting: the container is the boundary), and it
 * says so (isolationFallback); elsewhere `none` must be chosen explicitly: it isolates nothing but
 * the filesystem root.
 */
export function detectIsolation(): Promise<Isolation> {
  detected ??= (async (): Promise<Isolation> => {
    if (await bwrapWorks()) return 'bwrap';
    if (await unshareWorks()) return 'chroot';
    const container = inContainer();
    if (container && (await isolationAvailable('none'))) {
      fallback =
        'no namespaces in this container: RUN steps run with --isolation=none (chroot only; the container is the boundary)';
      return 'none';
    }
    throw new GantryError(
      'NO_SANDBOX',
      'no sandbox for RUN steps: neither bubblewrap nor unshare can create namespaces here',
      {
        phase: 'build',
        suggestion: container
          ? isRoot()
            ? 'install util-linux (unshare) in the image, or allow user namespaces; builds without RUN work as they are'
            : 'run the pod as root (runAsUser: 0; no privileges needed) for --isolation=none, or allow user namespaces (hostUsers: false); builds without RUN work as they are'
          : 'install bubblewrap or util-linux, allow user namespaces (sysctl kernel.unprivileged_userns_clone=1), or inside a container run as root with --isolation=none',
      },
    );
  })();
  detected.catch(() => {
    detected = undefined;
  });
  return detected;
}

/** Why the detected sandbox is a fallback (one sentence), or undefined when it is not one. */
export async function isolationFallback(): Promise<string | undefined> {
  await detectIsolation().catch(() => undefined);
  return fallback;
}
