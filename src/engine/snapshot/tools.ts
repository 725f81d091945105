/**
 * The system calls Node does not have, through the tools that make them: mount(8)/umount(8) for
 * overlayfs and mknod(1) for overlay whiteouts and device nodes (extended attributes, which
 * overlay keeps its opaque markers in, live in src/layer/xattr.ts). Calls are batched (one
 * process per tree or per few hundred paths), never one process per file.
 */
import { execFile } from 'node:child_process';
import { AbortedError, GantryError, type IoOptions } from '../../errors.js';

export interface ExecResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

const MAX_OUTPUT = 512 * 1024 * 1024;
/** Paths per batched command: far below ARG_MAX even for long paths. */
const BATCH = 256;

function missingTool(cmd: string, cause: unknown): GantryError {
  const pkg = cmd === 'mknod' ? 'coreutils' : 'util-linux';
  return new GantryError('SNAPSHOT_TOOL_MISSING', `snapshots need ${cmd}, which is not installed`, {
    phase: 'build',
    suggestion: `install the ${pkg} package`,
    cause,
  });
}

/** Runs a command without a shell; resolves with its exit code, rejects only when it cannot start. */
export function exec(
  cmd: string,
  args: readonly string[],
  options: IoOptions & { readonly cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { encoding: 'buffer', maxBuffer: MAX_OUTPUT, signal: options.signal, cwd: options.cwd },
      (err, stdout, stderr) => {
        // A non-zero exit is a result; only a command that could not run is an error.
        const status = (err as { code?: unknown } | null)?.code;
        if (err && options.signal?.aborted) reject(new AbortedError({ phase: 'build', cause: err }));
        else if (err && status === 'ENOENT') reject(missingTool(cmd, err));
        else if (err && typeof status !== 'number') reject(err);
        else resolve({ code: typeof status === 'number' ? status : 0, stdout, stderr: stderr.toString('utf8').trim() });
      },
    );
  });
}

/** Runs a command and turns a non-zero exit into a one-line GantryError. */
export async function execOk(
  cmd: string,
  args: readonly string[],
  what: string,
  options: IoOptions & { readonly cwd?: string } = {},
): Promise<ExecResult> {
  const res = await exec(cmd, args, options);
  if (res.code !== 0) {
    const why = res.stderr.split('\n').pop() || `exit status ${res.code}`;
    throw new GantryError('SNAPSHOT_TOOL_FAILED', `${what} failed: ${why}`, {
      phase: 'build',
      suggestion: 'check that gantry runs as root (or in a user namespace) and that the filesystem has room',
    });
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Extended attributes: src/layer/xattr.ts owns them (and which tool reads and writes them).

export { readXattrPaths, readXattrTree, setXattr, writeXattrs, type XattrMap } from '../../layer/xattr.js';

// ---------------------------------------------------------------------------------------------
// Device nodes

export interface DeviceNode {
  readonly path: string;
  readonly type: 'char' | 'block' | 'fifo';
  readonly mode: number;
  readonly major: number;
  readonly minor: number;
}

// One shell runs mknod for a whole batch: whiteouts come by the thousand when a step removes a package.
const MKNOD_LOOP =
  'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod -m "$3" "$1" p || exit 1; ' +
  'else mknod -m "$3" "$1" "$2" "$4" "$5" || exit 1; fi; shift 5; done';

export async function makeNodes(nodes: readonly DeviceNode[], options: IoOptions = {}): Promise<void> {
  for (let i = 0; i < nodes.length; i += BATCH) {
    const args: string[] = [];
    for (const n of nodes.slice(i, i + BATCH)) {
      const kind = n.type === 'fifo' ? 'p' : n.type === 'char' ? 'c' : 'b';
      args.push(n.path, kind, (n.mode & 0o7777).toString(8), String(n.major), String(n.minor));
    }
    await execOk('sh', ['-c', MKNOD_LOOP, 'sh', ...args], 'mknod', options);
  }
}

/** Overlay whiteouts: character devices 0/0. */
export function whiteoutNodes(paths: readonly string[]): DeviceNode[] {
  return paths.map((path) => ({ path, type: 'char', mode: 0, major: 0, minor: 0 }));
}

// ---------------------------------------------------------------------------------------------
// Mounts

/** `mount -t overlay`, run in `cwd` so that relative lowerdir paths keep the option string short. */
export async function mountOverlay(options: string, target: string, cwd: string, io: IoOptions = {}): Promise<void> {
  await execOk('mount', ['-t', 'overlay', 'overlay', '-o', options, target], 'mounting overlayfs', { ...io, cwd });
}

/** Unmounts `target`; a mount still busy after a few tries is detached lazily so that it cannot leak. */
export async function unmount(target: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await exec('umount', [target]);
    if (res.code === 0 || /not mounted|no mount point|not found/i.test(res.stderr)) return;
    if (attempt >= 4) {
      await execOk('umount', ['-l', target], `unmounting ${target}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
  }
}
