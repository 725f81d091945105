/**
 * A RUN step made concrete for one sandbox: ids resolved, every in-rootfs path canonical (no
 * symlink left to follow), and the host files to bind. The sandbox builders (bwrap.ts,
 * chroot.ts, none.ts) only translate a plan into a command line.
 */
import type { Switcher } from './host.js';
import type { ResolvedUser } from './types.js';

/** Where the switcher's files appear inside bwrap and chroot sandboxes: on the /dev tmpfs, never in the rootfs. */
export const HELPER_DIR = '/dev/.gantry';

/** Where `none` copies the switcher's files: it cannot mount, so they go into the rootfs for the run. */
export const NONE_HELPER_DIR = '/.gantry-run';

/**
 * Docker's default capability set, which BuildKit gives RUN steps too. Root in the sandbox gets
 * these and no more (no CAP_SYS_ADMIN: a RUN cannot mount over the host).
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'chown',
  'dac_override',
  'fsetid',
  'fowner',
  'mknod',
  'net_raw',
  'setgid',
  'setuid',
  'setfcap',
  'setpcap',
  'net_bind_service',
  'sys_chroot',
  'kill',
  'audit_write',
];

export interface PlannedBind {
  readonly source: string;
  /** Canonical in-root path. */
  readonly target: string;
  readonly readonly: boolean;
}

/** The first file descriptor secrets are handed to the sandbox on (0-2 are stdio, 3 the status). */
export const SECRET_FD_BASE = 4;

export interface PlannedSecret {
  /** Canonical in-root path. */
  readonly target: string;
  readonly data: Uint8Array;
}

export interface SandboxPlan {
  /** Absolute host path of the rootfs. */
  readonly rootfs: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Canonical in-root working directory (exists). */
  readonly cwd: string;
  readonly ids: ResolvedUser;
  readonly network: 'host' | 'none';
  readonly hostname: string;
  /** resolv.conf and hosts, then the spec's own mounts. */
  readonly binds: readonly PlannedBind[];
  /** Secret files, read from descriptor SECRET_FD_BASE + index; never written to disk. */
  readonly secrets: readonly PlannedSecret[];
  readonly switcher: Switcher;
  /** gantry runs as real root (no user namespace needed). */
  readonly root: boolean;
}

/** Quotes a string for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
