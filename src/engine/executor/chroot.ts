/**
 * The util-linux sandbox: `unshare` makes mount, PID, IPC and UTS namespaces (network with
 * --network=none, user when not root, mapping the caller to root), and a setup script run by the
 * HOST's /bin/sh mounts /proc, a tmpfs /dev with the host's device nodes bound in, /sys,
 * resolv.conf and hosts into the rootfs, all inside the private mount namespace. It then stays
 * as PID 1 (a root reaper whose death, forced by --kill-child when unshare dies, takes the whole
 * namespace with it) while `unshare --root --wd` enters the rootfs and the switcher sets ids,
 * groups and environment.
 */
import { HOST_PATH, switcherArgv } from './host.js';
import { DEFAULT_CAPABILITIES, HELPER_DIR, shellQuote as q, type SandboxPlan, SECRET_FD_BASE } from './plan.js';
import type { Launch } from './process.js';

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

export interface ChrootTools {
  readonly unshare: string;
  /** util-linux setpriv: parent-death signal and the capability bounding set. */
  readonly setpriv: string | undefined;
}

/** The setup script; every value in it is quoted, so no path or argument is ever re-parsed. */
export function chrootScript(plan: SandboxPlan, tools: ChrootTools): string {
  const at = (inRoot: string) => q(plan.rootfs + inRoot);
  const lines = [
    'set -eu',
    `mount -t proc -o nosuid,nodev,noexec proc ${at('/proc')}`,
    // A user namespace may only bind /sys with its submounts (they are locked to it).
    plan.root
      ? `mount -o bind,ro,nosuid,nodev,noexec /sys ${at('/sys')}`
      : `mount --rbind /sys ${at('/sys')} && mount -o remount,bind,ro,nosuid,nodev,noexec ${at('/sys')}`,
    `mount -t tmpfs -o nosuid,mode=0755,size=65536k tmpfs ${at('/dev')}`,
  ];
  for (const d of DEVICES) lines.push(`: > ${at(`/dev/${d}`)}`, `mount -o bind /dev/${d} ${at(`/dev/${d}`)}`);
  // gid=5 is the tty group, as Docker mounts it; a user namespace maps no gid 5.
  const ptsGid = plan.root ? ',gid=5' : '';
  lines.push(
    `mkdir -m 0755 ${at('/dev/pts')}`,
    `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec${ptsGid} devpts ${at('/dev/pts')}`,
    `ln -s pts/ptmx ${at('/dev/ptmx')}`,
    `mkdir -m 1777 ${at('/dev/shm')}`,
    `mount -t tmpfs -o nosuid,nodev,noexec,mode=1777 shm ${at('/dev/shm')}`,
    `ln -s /proc/self/fd ${at('/dev/fd')}`,
    `ln -s /proc/self/fd/0 ${at('/dev/stdin')}`,
    `ln -s /proc/self/fd/1 ${at('/dev/stdout')}`,
    `ln -s /proc/self/fd/2 ${at('/dev/stderr')}`,
    `mkdir -m 0755 ${at(HELPER_DIR)} ${at(`${HELPER_DIR}/lib`)}`,
  );
  for (const f of plan.switcher.files) {
    const dest = at(`${HELPER_DIR}/${f.name}`);
    lines.push(`: > ${dest}`, `mount -o bind,ro ${q(f.source)} ${dest}`);
  }
  for (const b of plan.binds) lines.push(`mount -o ${b.readonly ? 'bind,ro' : 'bind'} ${q(b.source)} ${at(b.target)}`);
  // Secrets: read from their pipes onto the namespace's /dev tmpfs (memory, gone with the
  // namespace), bound read-only at their targets, and unlinked from /dev (the bind keeps them).
  if (plan.secrets.length > 0) {
    const staging = `${HELPER_DIR}-secrets`;
    lines.push(`mkdir -m 0700 ${at(staging)}`);
    for (const [i, s] of plan.secrets.entries()) {
      const fd = SECRET_FD_BASE + i;
      const file = at(`${staging}/${i}`);
      lines.push(
        `cat <&${fd} > ${file}`,
        `exec ${fd}<&-`,
        `chmod 0400 ${file}`,
        `mount -o bind,ro ${file} ${at(s.target)}`,
        `rm -f ${file}`,
      );
    }
    lines.push(`rmdir ${at(staging)}`);
  }
  // sethostname(2) works in a user namespace's UTS namespace; /proc/sys/kernel/hostname does not.
  lines.push(`hostname ${q(plan.hostname)} 2>/dev/null || printf %s ${q(plan.hostname)} > /proc/sys/kernel/hostname`);
  if (plan.network === 'none') lines.push('ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || true');

  const enter = [tools.unshare, `--root=${plan.rootfs}`, `--wd=${plan.cwd}`];
  // Rootless: the user namespace maps only root, so there is nobody else to switch to.
  const ids = plan.root ? plan.ids : undefined;
  const inner = [...enter, ...switcherArgv(plan.switcher, HELPER_DIR, ids, plan.env, plan.args)];
  const bounding = tools.setpriv
    ? [tools.setpriv, `--bounding-set=-all,${DEFAULT_CAPABILITIES.map((c) => `+${c}`).join(',')}`]
    : [];
  lines.push(
    "printf 'ready\\n' >&3",
    'exec 3>&-',
    `${[...bounding, ...inner].map(q).join(' ')} &`,
    'child=$!',
    'set +e',
    'wait "$child"',
    'exit $?',
  );
  return lines.join('\n');
}

export function chrootLaunch(plan: SandboxPlan, tools: ChrootTools): Launch {
  const ns = ['--mount', '--pid', '--ipc', '--uts', '--fork', '--kill-child=SIGKILL'];
  if (plan.network === 'none') ns.push('--net');
  if (!plan.root) ns.push('--user', '--map-root-user');
  const unshare = [tools.unshare, ...ns, '--', '/bin/sh', '-c', chrootScript(plan, tools), 'gantry-sandbox'];
  // setpriv makes unshare die with us, and unshare's death kills PID 1 of the namespace.
  const argv = tools.setpriv ? [tools.setpriv, '--pdeathsig=SIGKILL', '--', ...unshare] : unshare;
  return {
    command: argv[0]!,
    args: argv.slice(1),
    env: { PATH: HOST_PATH },
    readiness: 'marker',
    processGroup: false,
    inputs: plan.secrets.map((s) => s.data),
  };
}
