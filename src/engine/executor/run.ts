/**
 * Running one RUN step: resolve the user in the rootfs, make every path canonical, create the
 * mount stubs, start the chosen sandbox, stream its output, and put the rootfs back as it was
 * apart from what the command itself changed (and the working directory, which RUN creates as
 * runc does).
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GantryError, throwIfAborted } from '../../errors.js';
import { ownerTag } from '../../store/cleanup.js';
import { mkdirp } from '../../util/fs.js';
import { hostPath, resolveInRoot } from '../../util/rootpath.js';
import { bwrapLaunch } from './bwrap.js';
import { chrootLaunch } from './chroot.js';
import { detectIsolation } from './detect.js';
import { findTool, isRoot, requireTool, switcher } from './host.js';
import { fillNoneStubs, noneLaunch, noneStubs } from './none.js';
import { NONE_HELPER_DIR, type PlannedBind, type PlannedSecret, type SandboxPlan } from './plan.js';
import { checkPlatform } from './platform.js';
import { type Launch, runLaunch } from './process.js';
import { MountStubs, type StubRequest } from './stubs.js';
import type { Isolation, RunResult, RunSpec, SandboxOptions } from './types.js';
import { homeDirectory, resolveUser } from './user.js';

/**
 * Paths in a rootfs that belong to the sandbox, not to the image: mount points (/proc, /sys,
 * /dev, resolv.conf, hosts) and the helper directory of `--isolation=none`. During a bwrap or
 * chroot run nothing the command writes there reaches the rootfs (they are mounts), and after
 * every run the executor removes whatever of them it had to create, restoring the parent
 * directory's mtime. A snapshotter should still skip changes at and below these paths, as
 * BuildKit does for its mount stubs.
 */
export const EPHEMERAL_PATHS: readonly string[] = [
  '/proc',
  '/sys',
  '/dev',
  '/etc/resolv.conf',
  '/etc/hosts',
  NONE_HELPER_DIR,
];

/** BuildKit's hostname for RUN steps. */
export const DEFAULT_HOSTNAME = 'buildkitsandbox';

const HOST_RESOLV_CONF = '/etc/resolv.conf';
const HOST_HOSTS = '/etc/hosts';

function usage(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'build', suggestion });
}

/** A command line in one printable line, as BuildKit quotes it in its errors. */
export function describeCommand(args: readonly string[], max = 200): string {
  const text = args.join(' ').replace(/\r?\n/g, '\\n');
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

function validate(spec: RunSpec): void {
  if (spec.args.length === 0 || spec.args[0] === '') {
    throw usage('RUN_NO_COMMAND', 'RUN has no command', 'give RUN a command, in shell or exec form');
  }
  if (spec.args[0]!.includes('=')) {
    // GNU env, which hands the environment over, would take it for a variable assignment.
    throw usage(
      'RUN_BAD_COMMAND',
      `cannot run ${JSON.stringify(spec.args[0])}: the program name contains "="`,
      'rename the program or run it through the shell form',
    );
  }
  for (const entry of spec.env) {
    if (entry.indexOf('=') <= 0) {
      throw usage(
        'INVALID_ENV',
        `invalid environment entry ${JSON.stringify(entry)}`,
        'write environment entries as KEY=VALUE',
      );
    }
  }
  for (const m of [...(spec.mounts ?? []), ...(spec.secrets ?? [])]) {
    if (!m.target.startsWith('/')) {
      throw usage(
        'INVALID_MOUNT',
        `mount target ${JSON.stringify(m.target)} is not absolute`,
        'give mount targets as absolute paths',
      );
    }
  }
}

async function isDirectory(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return undefined;
  }
}

/** The hosts file the sandbox sees: the host's, plus the sandbox's own hostname on loopback. */
async function hostsContent(hostname: string): Promise<string> {
  let text = await readFile(HOST_HOSTS, 'utf8').catch(
    () => '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
  );
  if (!text.endsWith('\n')) text += '\n';
  const names = new Set(
    text
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .flatMap((l) => l.trim().split(/\s+/).slice(1)),
  );
  return names.has(hostname) ? text : `${text}127.0.0.1\t${hostname}\n`;
}

/** Launches `plan` in `isolation`, with the stubs it needs, and cleans them up afterwards. */
async function launchIn(isolation: Isolation, plan: SandboxPlan, spec: RunSpec) {
  const requests: StubRequest[] = [];
  let devNullExists = true;
  if (isolation === 'none') {
    devNullExists =
      (await stat(hostPath(plan.rootfs, await resolveInRoot(plan.rootfs, '/dev/null'))).catch(() => undefined)) !==
      undefined;
    requests.push(...noneStubs(plan, devNullExists));
  } else {
    for (const p of ['/proc', '/dev', '/sys'])
      requests.push({ path: await resolveInRoot(plan.rootfs, p), kind: 'dir' });
  }
  for (const b of plan.binds) requests.push({ path: b.target, kind: (await isDirectory(b.source)) ? 'dir' : 'file' });
  for (const s of plan.secrets) requests.push({ path: s.target, kind: 'file' });

  const stubs = await MountStubs.create(plan.rootfs, requests);
  try {
    let launch: Launch;
    if (isolation === 'bwrap') {
      launch = bwrapLaunch(plan, await requireTool('bwrap', 'isolation bwrap runs RUN steps with bubblewrap'));
    } else if (isolation === 'chroot') {
      const unshare = await requireTool('unshare', 'isolation chroot makes namespaces with unshare');
      launch = chrootLaunch(plan, { unshare, setpriv: await findTool('setpriv') });
    } else {
      launch = await noneLaunch(plan);
      await fillNoneStubs(plan, new Set(stubs.created), devNullExists);
    }
    return await runLaunch(launch, { onOutput: spec.onOutput, signal: spec.signal });
  } finally {
    await stubs.remove({ everything: isolation === 'none' });
  }
}

/**
 * Runs `spec.args` in a sandbox on `spec.rootfs` and reports its exit status and last lines of
 * output. A non-zero exit is a result, not an error; errors are for a sandbox that could not run
 * the command at all (and ABORTED when the signal fires, after the process tree is dead).
 */
export async function runInSandbox(spec: RunSpec, options: SandboxOptions = {}): Promise<RunResult> {
  throwIfAborted(spec.signal);
  validate(spec);
  const isolation = options.isolation ?? (await detectIsolation());
  if (spec.platform) await checkPlatform(spec.platform);
  const rootfs = resolve(spec.rootfs);
  if (!(await isDirectory(rootfs))) {
    throw usage(
      'ROOTFS_MISSING',
      `the rootfs ${rootfs} is not a directory`,
      'prepare the stage filesystem before running a step in it',
    );
  }
  const root = isRoot();
  const network = spec.network === 'none' ? 'none' : 'host';
  const mounts = spec.mounts ?? [];
  const secrets = spec.secrets ?? [];
  // `none` cannot mount: a secret would have to be written into the rootfs, so it is refused.
  if (isolation === 'none' && (network === 'none' || mounts.length > 0 || secrets.length > 0)) {
    throw usage(
      'ISOLATION_UNSUPPORTED',
      `isolation none cannot ${network === 'none' ? 'isolate the network (RUN --network=none)' : 'mount (RUN --mount)'}`,
      'use --isolation=bwrap or chroot where namespaces are allowed',
    );
  }

  const ids = await resolveUser(rootfs, spec.user ?? '');
  if (!root && isolation === 'chroot' && (ids.uid !== 0 || ids.gid !== 0)) {
    throw usage(
      'ROOTLESS_USER_UNSUPPORTED',
      `cannot run as ${spec.user} without root in isolation chroot: its user namespace maps only root`,
      'run gantry as root, or use --isolation=bwrap, which maps the one user',
    );
  }

  const cwd = await resolveInRoot(rootfs, spec.cwd === '' ? '/' : spec.cwd);
  await mkdirp(hostPath(rootfs, cwd), 0o755);
  if (!(await isDirectory(hostPath(rootfs, cwd)))) {
    throw usage('RUN_BAD_WORKDIR', `the working directory ${spec.cwd} is not a directory in the rootfs`, 'fix WORKDIR');
  }

  const hostname = spec.hostname ?? DEFAULT_HOSTNAME;
  // Named with its owner: the next command after a SIGKILL removes it (store/cleanup.ts).
  const tmp = await mkdtemp(join(tmpdir(), `gantry-run-${ownerTag()}-`));
  try {
    const hostsFile = join(tmp, 'hosts');
    await writeFile(hostsFile, await hostsContent(hostname), { mode: 0o644 });
    const binds: PlannedBind[] = [];
    if (await stat(HOST_RESOLV_CONF).catch(() => undefined)) {
      binds.push({ source: HOST_RESOLV_CONF, target: await resolveInRoot(rootfs, '/etc/resolv.conf'), readonly: true });
    }
    binds.push({ source: hostsFile, target: await resolveInRoot(rootfs, '/etc/hosts'), readonly: true });
    for (const m of mounts) {
      const source = resolve(m.source);
      if ((await isDirectory(source)) === undefined) {
        throw usage('MOUNT_SOURCE_MISSING', `mount source ${source} does not exist`, 'create it before the step runs');
      }
      binds.push({ source, target: await resolveInRoot(rootfs, m.target), readonly: m.readonly === true });
    }
    const planned: PlannedSecret[] = [];
    for (const s of secrets) planned.push({ target: await resolveInRoot(rootfs, s.target), data: s.data });
    const plan: SandboxPlan = {
      rootfs,
      args: spec.args,
      // HOME from /etc/passwd unless the environment sets it, as runc and buildah do.
      env: spec.env.some((e) => e.startsWith('HOME='))
        ? spec.env
        : [...spec.env, `HOME=${await homeDirectory(rootfs, ids.uid)}`],
      cwd,
      ids,
      network,
      hostname,
      binds,
      secrets: planned,
      switcher: await switcher(),
      root,
    };
    const outcome = await launchIn(isolation, plan, spec);
    if (!outcome.started) {
      const why =
        outcome.tail
          .filter((l) => l.trim() !== '')
          .slice(-2)
          .join(' | ') || `exit status ${outcome.exitCode}`;
      throw new GantryError('SANDBOX_FAILED', `the ${isolation} sandbox failed before starting the command: ${why}`, {
        phase: 'build',
        suggestion: 'check that this machine allows the namespaces it needs, or choose another --isolation',
      });
    }
    return { exitCode: outcome.exitCode, tail: outcome.tail };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A RUN step that exited non-zero. `tail` holds its last lines of output for the report. */
export class RunFailedError extends GantryError {
  readonly command: readonly string[];
  readonly exitCode: number;
  readonly tail: readonly string[];

  constructor(command: readonly string[], result: RunResult) {
    const last = result.tail.filter((l) => l.trim() !== '').slice(-3);
    let summary = last.join(' | ');
    if (summary.length > 300) summary = `...${summary.slice(summary.length - 297)}`;
    super(
      'RUN_FAILED',
      `process "${describeCommand(command)}" did not complete successfully: exit code: ${result.exitCode}`,
      {
        phase: 'build',
        suggestion: summary
          ? `its last output: ${summary}`
          : 'it printed nothing; run the command in the base image to see why it fails',
      },
    );
    this.name = 'RunFailedError';
    this.command = command;
    this.exitCode = result.exitCode;
    this.tail = result.tail;
  }
}

/** runInSandbox, with a non-zero exit thrown as RunFailedError (code RUN_FAILED). */
export async function runOrThrow(spec: RunSpec, options: SandboxOptions = {}): Promise<void> {
  const result = await runInSandbox(spec, options);
  if (result.exitCode !== 0) throw new RunFailedError(spec.args, result);
}
