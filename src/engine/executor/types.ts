/**
 * The executor's public shapes: what a RUN step asks for (RunSpec), what it gets back (RunResult)
 * and the sandboxes it can run in (Isolation).
 */
import type { Platform } from '../../oci/types.js';

/** Sandboxes, strongest first: bubblewrap, util-linux `unshare` + `chroot`, plain `chroot` (opt-in). */
export type Isolation = 'bwrap' | 'chroot' | 'none';

export const ISOLATIONS: readonly Isolation[] = ['bwrap', 'chroot', 'none'];

/** An extra bind mount from the host into the sandbox (for RUN --mount). */
export interface BindMount {
  /** Host path: a directory or a file. */
  readonly source: string;
  /** Absolute path inside the rootfs; created (and removed afterwards) when missing. */
  readonly target: string;
  readonly readonly?: boolean;
}

/**
 * A secret file for the command (RUN --mount=type=secret): read-only, root-owned, mode 0400. Its
 * content is handed to the sandbox through a pipe and lives only on a tmpfs in the sandbox's own
 * mount namespace, so it dies with the sandbox, even when gantry is killed.
 */
export interface SecretFile {
  /** Absolute path inside the rootfs; created (and removed afterwards) when missing. */
  readonly target: string;
  readonly data: Uint8Array;
}

export interface RunSpec {
  /** The prepared root filesystem: an overlay mount the engine made, or a plain directory. */
  readonly rootfs: string;
  /** argv; the engine turns the shell form into [...SHELL, cmd]. */
  readonly args: readonly string[];
  /**
   * KEY=VALUE, the environment the command sees (nothing from the host is added); HOME is added
   * from the user's /etc/passwd entry (`/` without one) when it is not given, as runc adds it.
   */
  readonly env: readonly string[];
  /** Working directory inside the rootfs; created (root-owned, 0755) when missing, as runc does. */
  readonly cwd: string;
  /** `name`, `uid`, `name:group`, `uid:gid`, ...: resolved from the rootfs' /etc/passwd and /etc/group. */
  readonly user?: string;
  /** `default` is the host network here; `none` is a network namespace with only loopback. */
  readonly network?: 'default' | 'none' | 'host';
  /** A foreign architecture runs through qemu-user via binfmt_misc (checked before the run). */
  readonly platform?: Platform;
  /** Defaults to `buildkitsandbox`, the name BuildKit gives RUN steps. */
  readonly hostname?: string;
  readonly mounts?: readonly BindMount[];
  readonly secrets?: readonly SecretFile[];
  /** Called for each line of output (without its newline), in the order lines arrive. */
  readonly onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Aborting kills the whole process tree. */
  readonly signal?: AbortSignal;
}

export interface RunResult {
  /** The command's exit status; 128 + N when signal N killed it. */
  readonly exitCode: number;
  /** The last lines of stdout and stderr together, oldest first (at most TAIL_LINES). */
  readonly tail: readonly string[];
}

export interface SandboxOptions {
  /** Which sandbox to use; the strongest available (detectIsolation) when absent. */
  readonly isolation?: Isolation;
}

/** What resolveUser gives: the ids a process runs as. */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups: the primary gid first, then (for a USER without a group) the groups listing the user. */
  readonly groups: readonly number[];
}
