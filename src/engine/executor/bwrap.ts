/**
 * The bubblewrap sandbox: new mount, PID, IPC and UTS namespaces (and network with
 * --network=none, user when not root), the rootfs bound at /, a fresh /proc, bwrap's minimal
 * /dev, /sys read-only, resolv.conf and hosts read-only. As root, bwrap keeps root and drops to
 * Docker's capability set; the switcher then sets the user's ids and groups, which bwrap cannot
 * do without a user namespace that would remap every file owner. Without root, bwrap maps the
 * caller to the requested uid/gid in a user namespace (one id only: no supplementary groups).
 * Secrets come through pipes (--ro-bind-data): bwrap keeps them on its private tmpfs, never on disk.
 */
import { HOST_PATH, switcherArgv } from './host.js';
import { DEFAULT_CAPABILITIES, HELPER_DIR, type SandboxPlan, SECRET_FD_BASE } from './plan.js';
import type { Launch } from './process.js';

function envPair(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return [entry.slice(0, eq), entry.slice(eq + 1)];
}

export function bwrapLaunch(plan: SandboxPlan, bwrap: string): Launch {
  const a: string[] = ['--json-status-fd', '3', '--die-with-parent', '--unshare-pid', '--unshare-ipc', '--unshare-uts'];
  if (plan.network === 'none') a.push('--unshare-net');
  if (!plan.root) a.push('--unshare-user', '--uid', String(plan.ids.uid), '--gid', String(plan.ids.gid));
  a.push('--hostname', plan.hostname);
  a.push('--bind', plan.rootfs, '/');
  // bwrap's /dev/shm is a plain 0755 directory; Docker's is a world-writable tmpfs.
  a.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/dev/shm', '--ro-bind', '/sys', '/sys');
  for (const b of plan.binds) a.push(b.readonly ? '--ro-bind' : '--bind', b.source, b.target);
  // bwrap reads each secret from its pipe into a file on its own tmpfs and binds that read-only.
  for (const [i, s] of plan.secrets.entries()) {
    a.push('--perms', '0400', '--ro-bind-data', String(SECRET_FD_BASE + i), s.target);
  }
  a.push('--chdir', plan.cwd);

  let command: string[];
  if (plan.root) {
    a.push('--perms', '0755', '--dir', HELPER_DIR, '--perms', '0755', '--dir', `${HELPER_DIR}/lib`);
    for (const f of plan.switcher.files) a.push('--ro-bind', f.source, `${HELPER_DIR}/${f.name}`);
    a.push('--cap-drop', 'ALL');
    for (const cap of DEFAULT_CAPABILITIES) a.push('--cap-add', `CAP_${cap.toUpperCase()}`);
    // The switcher runs with no environment of the build's: env -i hands it to the command only.
    a.push('--clearenv');
    command = switcherArgv(plan.switcher, HELPER_DIR, plan.ids, plan.env, plan.args);
  } else {
    // No host binary runs inside: bwrap execs the command with the build's environment itself.
    a.push('--clearenv');
    for (const entry of plan.env) a.push('--setenv', ...envPair(entry));
    if (plan.ids.uid === 0) for (const cap of DEFAULT_CAPABILITIES) a.push('--cap-add', `CAP_${cap.toUpperCase()}`);
    command = [...plan.args];
  }
  return {
    command: bwrap,
    args: [...a, '--', ...command],
    env: { PATH: HOST_PATH },
    readiness: 'bwrap-status',
    processGroup: false,
    inputs: plan.secrets.map((s) => s.data),
  };
}
