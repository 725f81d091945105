/**
 * The system calls Node does not have, through the tools that make them: mount(8)/umount(8) for
 * overlayfs, getfattr/setfattr (the attr package) for the extended attributes overlay keeps its
 * opaque markers in, and mknod(1) for overlay whiteouts and device nodes. Calls are batched (one
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
  const pkg = cmd === 'getfattr' || cmd === 'setfattr' ? 'attr' : cmd === 'mknod' ? 'coreutils' : 'util-linux';
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
// Extended attributes

/** getfattr escapes a name's unprintable bytes as \ooo and a backslash as \\. */
function unescapeName(raw: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === 0x5c) {
      const oct = raw.toString('latin1', i + 1, i + 4);
      if (/^[0-7]{3}$/.test(oct)) {
        out.push(Number.parseInt(oct, 8));
        i += 3;
        continue;
      }
      if (raw[i + 1] === 0x5c) {
        out.push(0x5c);
        i += 1;
        continue;
      }
    }
    out.push(b);
  }
  return Buffer.from(out);
}

/** setfattr --restore reads every \ooo back; escaping all but plain bytes is always safe. */
function escapeName(path: string): string {
  let out = '';
  for (const b of Buffer.from(path, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._/+@:,-]/.test(c) ? c : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

export type XattrMap = Map<string, Record<string, Buffer>>;

function parseDump(stdout: Buffer): XattrMap {
  const out: XattrMap = new Map();
  let current: Record<string, Buffer> | undefined;
  let start = 0;
  while (start < stdout.length) {
    let end = stdout.indexOf(0x0a, start);
    if (end < 0) end = stdout.length;
    const line = stdout.subarray(start, end);
    start = end + 1;
    if (line.toString('latin1', 0, 8) === '# file: ') {
      current = {};
      out.set(unescapeName(line.subarray(8)).toString('utf8'), current);
      continue;
    }
    const eq = line.indexOf(0x3d);
    if (current === undefined || eq <= 0) continue;
    const name = unescapeName(line.subarray(0, eq)).toString('utf8');
    const value = line.toString('latin1', eq + 1);
    current[name] = value.startsWith('0x')
      ? Buffer.from(value.slice(2), 'hex')
      : value.startsWith('0s')
        ? Buffer.from(value.slice(2), 'base64')
        : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1');
  }
  return out;
}

/**
 * Extended attributes whose names match `pattern` (a getfattr regex) of every path under `root`,
 * keyed by absolute path; paths without a matching attribute are absent. Symlinks are neither
 * followed nor descended into. One process for the whole tree.
 */
export async function readXattrTree(root: string, pattern: string, options: IoOptions = {}): Promise<XattrMap> {
  const res = await exec(
    'getfattr',
    ['--absolute-names', '-R', '-P', '-h', '-d', '-m', pattern, '-e', 'hex', '--', root],
    options,
  );
  // getfattr exits 1 when some file cannot hold xattrs; what it printed for the others is complete.
  if (res.code > 1) {
    throw new GantryError('SNAPSHOT_XATTR_FAILED', `reading extended attributes under ${root} failed: ${res.stderr}`, {
      phase: 'build',
      suggestion: 'check that the directory exists and is readable',
    });
  }
  return parseDump(res.stdout);
}

/** Like readXattrTree for a list of paths (not descending into directories), a few hundred per process. */
export async function readXattrPaths(
  paths: readonly string[],
  pattern: string,
  options: IoOptions = {},
): Promise<XattrMap> {
  const out: XattrMap = new Map();
  for (let i = 0; i < paths.length; i += BATCH) {
    const res = await exec(
      'getfattr',
      ['--absolute-names', '-h', '-d', '-m', pattern, '-e', 'hex', '--', ...paths.slice(i, i + BATCH)],
      options,
    );
    if (res.code > 1) {
      throw new GantryError('SNAPSHOT_XATTR_FAILED', `reading extended attributes failed: ${res.stderr}`, {
        phase: 'build',
        suggestion: 'check that the files exist and are readable',
      });
    }
    for (const [path, attrs] of parseDump(res.stdout)) out.set(path, attrs);
  }
  return out;
}

/** Sets one attribute, the same value, on many paths (symlinks not followed). */
export async function setXattr(
  paths: readonly string[],
  name: string,
  value: string,
  options: IoOptions = {},
): Promise<void> {
  for (let i = 0; i < paths.length; i += BATCH) {
    await execOk(
      'setfattr',
      ['-h', '-n', name, '-v', value, '--', ...paths.slice(i, i + BATCH)],
      `setfattr ${name}`,
      options,
    );
  }
}

/** Sets attributes given per path, through one `setfattr --restore` reading a dump on stdin. */
export async function restoreXattrs(values: XattrMap, options: IoOptions = {}): Promise<void> {
  if (values.size === 0) return;
  let dump = '';
  for (const [path, attrs] of values) {
    dump += `# file: ${escapeName(path)}\n`;
    for (const [name, value] of Object.entries(attrs)) dump += `${escapeName(name)}=0x${value.toString('hex')}\n`;
    dump += '\n';
  }
  await new Promise<void>((resolve, reject) => {
    const child = execFile('setfattr', ['-h', '--restore=-'], { signal: options.signal }, (err, _out, stderr) => {
      const e = err as NodeJS.ErrnoException | null;
      if (e && options.signal?.aborted) reject(new AbortedError({ phase: 'build', cause: e }));
      else if (e?.code === 'ENOENT') reject(missingTool('setfattr', e));
      else if (e) {
        reject(
          new GantryError(
            'SNAPSHOT_TOOL_FAILED',
            `setfattr --restore failed: ${String(stderr).trim().split('\n').pop()}`,
            {
              phase: 'build',
              suggestion: 'setting trusted.* and security.* attributes needs root',
            },
          ),
        );
      } else resolve();
    });
    child.stdin?.end(dump);
  });
}

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
