/**
 * `--isolation=none`, for running inside a container that allows no namespaces (Kaniko-style):
 * no mount, PID, IPC, UTS or network namespace, only `unshare --root` (chroot) and the
 * switcher, so it needs root with CAP_SYS_CHROOT. Nothing can be mounted: the switcher's files
 * are copied into the rootfs for the run, resolv.conf and hosts are copied in only when the
 * image has none, and when the image has no /dev/null the usual device nodes are made with
 * mknod; all of it is removed afterwards. There is no /proc, no /sys and no private /dev, and
 * a process that leaves the command's process group (setsid) outlives an abort.
 */
import { chmod, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../errors.js';
import { execHost, HOST_PATH, requireTool, switcherArgv } from './host.js';
import { NONE_HELPER_DIR, type SandboxPlan } from './plan.js';
import type { Launch } from './process.js';
import type { StubRequest } from './stubs.js';

/** Device nodes `none` makes when the image has no /dev/null: name, major, minor. */
const DEVICES: readonly (readonly [string, number, number])[] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

/** The stubs `none` needs: the helper directory and files, and device nodes when /dev/null is missing. */
export function noneStubs(plan: SandboxPlan, devNullExists: boolean): StubRequest[] {
  const out: StubRequest[] = [
    { path: NONE_HELPER_DIR, kind: 'dir' },
    { path: `${NONE_HELPER_DIR}/lib`, kind: 'dir' },
  ];
  for (const f of plan.switcher.files) out.push({ path: `${NONE_HELPER_DIR}/${f.name}`, kind: 'file' });
  if (!devNullExists) for (const [name] of DEVICES) out.push({ path: `/dev/${name}`, kind: 'file' });
  return out;
}

/**
 * Fills the stubs: copies the switcher in, the host's resolv.conf and hosts where the image had
 * none (`createdHost` lists the stub paths that were created), and makes the device nodes.
 */
export async function fillNoneStubs(
  plan: SandboxPlan,
  createdHost: ReadonlySet<string>,
  devNullExists: boolean,
): Promise<void> {
  for (const f of plan.switcher.files) {
    const dest = join(plan.rootfs, NONE_HELPER_DIR, f.name);
    await copyFile(f.source, dest);
    await chmod(dest, f.name.startsWith('lib/') ? 0o644 : 0o755);
  }
  for (const b of plan.binds) {
    const dest = join(plan.rootfs, b.target);
    if (createdHost.has(dest)) await copyFile(b.source, dest);
  }
  if (!devNullExists) {
    const mknod = await requireTool('mknod', 'isolation none makes /dev nodes in images without /dev/null');
    const rm = await requireTool('rm', 'isolation none replaces placeholder files with device nodes');
    for (const [name, major, minor] of DEVICES) {
      const dest = join(plan.rootfs, 'dev', name);
      await execHost(rm, ['-f', dest]);
      const res = await execHost(mknod, ['-m', '0666', dest, 'c', String(major), String(minor)]);
      // Without CAP_MKNOD leave a regular empty file: /dev/null then at least exists.
      if (res.code !== 0) await writeFile(dest, '');
    }
  }
}

export async function noneLaunch(plan: SandboxPlan): Promise<Launch> {
  if (!plan.root) {
    throw new GantryError('ISOLATION_NEEDS_ROOT', 'isolation none needs root (it uses chroot)', {
      phase: 'build',
      suggestion: 'run gantry as root inside the container, or use --isolation=bwrap or chroot where namespaces work',
    });
  }
  const unshare = await requireTool('unshare', 'isolation none enters the rootfs with unshare --root');
  const argv = [
    unshare,
    `--root=${plan.rootfs}`,
    `--wd=${plan.cwd}`,
    ...switcherArgv(plan.switcher, NONE_HELPER_DIR, plan.ids, plan.env, plan.args),
  ];
  return { command: argv[0]!, args: argv.slice(1), env: { PATH: HOST_PATH }, readiness: 'none', processGroup: true };
}
