/**
 * Extended attributes, which Node cannot read or write, through whichever tools this machine has.
 * Everything that touches xattrs (overlay's opaque markers, `security.capability` carried from a
 * layer to the disk and back) goes through here; the tool choice stays inside this module.
 *
 * - `attr`: getfattr/setfattr (Debian package attr), one process per tree or few hundred paths.
 * - `tar`: GNU tar and coreutils cp, both Essential on Debian, so a fresh machine has them. Reading
 *   archives the paths (`tar --xattrs -c`, without recursion) and parses the SCHILY.xattr records
 *   with our tar reader; files above 128 KiB are archived as empty stand-ins that carry only
 *   their attributes (`cp --attributes-only`), so large contents are never read. Writing extracts empty stand-ins that carry
 *   the attributes into a scratch directory (`tar --xattrs -x`), then copies only their attributes
 *   onto the targets (`cp --attributes-only --preserve=xattr`), which keeps each target's inode,
 *   content, owner, mode and hardlinks. Only regular files and directories get them: cp would
 *   open a fifo or a device node, and symlinks take only trusted.* and security.*, which no layer
 *   we know of puts there.
 */
import { execFile, spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { AbortedError, GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { readTar } from './tar/reader.js';
import type { TarInput } from './tar/types.js';
import { tarStream } from './tar/writer.js';

/** Attributes by absolute path; paths without a matching attribute are absent. */
export type XattrMap = Map<string, Record<string, Buffer>>;

export type XattrMethod = 'attr' | 'tar' | 'none';

export interface XattrAccess {
  readonly method: XattrMethod;
  /** Why this method: what was found or missing. */
  readonly reason: string;
}

/** Paths per batched command: far below ARG_MAX even for long paths. */
const BATCH = 256;
const MAX_OUTPUT = 512 * 1024 * 1024;

interface RunResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a command without a shell, `input` on stdin; rejects only when it cannot start. */
function run(cmd: string, args: readonly string[], options: IoOptions & { input?: Buffer } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'buffer', maxBuffer: MAX_OUTPUT, signal: options.signal },
      (err, stdout, stderr) => {
        const status = (err as { code?: unknown } | null)?.code;
        if (err && options.signal?.aborted) reject(new AbortedError({ phase: 'layer', cause: err }));
        else if (err && typeof status !== 'number') reject(err);
        else resolve({ code: typeof status === 'number' ? status : 0, stdout, stderr: stderr.toString('utf8').trim() });
      },
    );
    child.stdin?.on('error', () => {}); // a tool that exits early closes its stdin; its exit code tells
    child.stdin?.end(options.input ?? Buffer.alloc(0));
  });
}

async function works(cmd: string, args: readonly string[], expect?: RegExp): Promise<boolean> {
  try {
    const res = await run(cmd, args);
    return res.code === 0 && (expect === undefined || expect.test(res.stdout.toString('utf8')));
  } catch {
    return false;
  }
}

/** By PATH: the tools found depend on it. */
const accessByPath = new Map<string, Promise<XattrAccess>>();

/** How this process reads and writes xattrs, probed once per PATH. */
export function xattrAccess(): Promise<XattrAccess> {
  const path = process.env.PATH ?? '';
  let access = accessByPath.get(path);
  if (access) return access;
  access = (async (): Promise<XattrAccess> => {
    const [getfattr, setfattr, tar, cp] = await Promise.all([
      works('getfattr', ['--version']),
      works('setfattr', ['--version']),
      works('tar', ['--version'], /GNU tar/),
      works('cp', ['--version'], /coreutils/),
    ]);
    if (getfattr && setfattr) return { method: 'attr', reason: 'getfattr and setfattr (attr) are installed' };
    const missing = getfattr ? 'setfattr' : setfattr ? 'getfattr' : 'getfattr and setfattr';
    if (tar && cp) return { method: 'tar', reason: `${missing} not installed: GNU tar and coreutils cp instead` };
    return { method: 'none', reason: `${missing} not installed, and no GNU tar and coreutils cp to stand in` };
  })();
  accessByPath.set(path, access);
  return access;
}

async function method(): Promise<'attr' | 'tar'> {
  const a = await xattrAccess();
  if (a.method === 'none') {
    throw new GantryError('XATTRS_UNAVAILABLE', `extended attributes cannot be read or written here: ${a.reason}`, {
      phase: 'layer',
      suggestion: 'install the attr package (apt-get install attr)',
    });
  }
  return a.method;
}

/** A name filter from a getfattr-style pattern ('-' means every name). */
function matcher(pattern: string): (name: string) => boolean {
  if (pattern === '-') return () => true;
  const re = new RegExp(pattern);
  return (name) => re.test(name);
}

// ---------------------------------------------------------------------------------------------
// getfattr / setfattr

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

function parseDump(stdout: Buffer, out: XattrMap): void {
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
}

function readFailed(what: string, stderr: string): GantryError {
  return new GantryError('SNAPSHOT_XATTR_FAILED', `reading extended attributes ${what} failed: ${stderr}`, {
    phase: 'build',
    suggestion: 'check that the files exist and are readable',
  });
}

async function getfattr(args: readonly string[], what: string, out: XattrMap, options: IoOptions): Promise<void> {
  const res = await run('getfattr', ['--absolute-names', '-h', '-d', '-e', 'hex', ...args], options);
  // getfattr exits 1 when some file cannot hold xattrs; what it printed for the others is complete.
  if (res.code > 1) throw readFailed(what, res.stderr);
  parseDump(res.stdout, out);
}

async function setfattrRestore(values: XattrMap, options: IoOptions): Promise<void> {
  let dump = '';
  for (const [path, attrs] of values) {
    dump += `# file: ${escapeName(path)}\n`;
    for (const [name, value] of Object.entries(attrs)) dump += `${escapeName(name)}=0x${value.toString('hex')}\n`;
    dump += '\n';
  }
  const res = await run('setfattr', ['-h', '--restore=-'], { ...options, input: Buffer.from(dump, 'utf8') });
  if (res.code !== 0) throw writeFailed(`setfattr --restore: ${res.stderr.split('\n').pop()}`);
}

function writeFailed(why: string): GantryError {
  return new GantryError('SNAPSHOT_TOOL_FAILED', `setting extended attributes failed: ${why}`, {
    phase: 'build',
    suggestion: 'setting trusted.* and security.* attributes needs root',
  });
}

// ---------------------------------------------------------------------------------------------
// GNU tar (+ coreutils cp)

/** `tar --xattrs -c` of exactly `paths`, parsed: the records of each path, under `names.get(path) ?? path`. */
async function tarArchiveRead(
  paths: readonly string[],
  keep: (name: string) => boolean,
  out: XattrMap,
  options: IoOptions,
  names: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  // Names relative to / keep tar from rewriting them; --hard-dereference gives every link its records.
  const list = Buffer.from(paths.map((p) => `${p.replace(/^\/+/, '')}\0`).join(''), 'utf8');
  const child = spawn(
    'tar',
    [
      '--xattrs',
      '--xattrs-include=*',
      '--format=posix',
      '--no-recursion',
      '--hard-dereference',
      '-C',
      '/',
      '-c',
      '-f',
      '-',
      '--null',
      '--verbatim-files-from',
      '-T',
      '-',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 2));
  });
  child.stdin.on('error', () => {});
  child.stdin.end(list);
  try {
    for await (const { entry, body } of readTar(child.stdout, options)) {
      body.resume();
      if (!entry.xattrs) continue;
      const kept: Record<string, Buffer> = {};
      for (const [name, value] of Object.entries(entry.xattrs)) if (keep(name)) kept[name] = value;
      const path = `/${entry.path}`;
      if (Object.keys(kept).length > 0) out.set(names.get(path) ?? path, kept);
    }
  } catch (err) {
    child.kill();
    await exited.catch(() => {});
    if (options.signal?.aborted) throw new AbortedError({ phase: 'layer', cause: err });
    throw err;
  }
  // 1: a file changed while it was read; its header (and its xattrs) were already complete.
  const code = await exited;
  if (code > 1) throw readFailed('through tar', stderr.trim().split('\n').pop() ?? `exit status ${code}`);
}

/**
 * Measured (2,000 files, 196 MB): piping a file's content through tar and our reader costs about
 * as much CPU as a stand-in for it once files pass ~100 KB; above that size a stand-in is cheaper.
 */
const STAND_IN_ABOVE = 128 * 1024;

/**
 * Reads through tar without reading the content of large files: their attributes are first
 * copied onto empty stand-ins (`cp --attributes-only`, no data, a few hundred files per process;
 * a batch never holds two files of one name), and tar archives the stand-ins. Everything else
 * (small files, directories, symlinks, special files) tar reads in place.
 */
async function tarRead(paths: readonly string[], keep: (name: string) => boolean, out: XattrMap, options: IoOptions) {
  const direct: string[] = [];
  const batches: { names: Set<string>; files: string[] }[] = [];
  for (const path of paths) {
    throwIfAborted(options.signal);
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue; // gone: nothing to report, as getfattr reports nothing for it
    if (!st.isFile() || st.size <= STAND_IN_ABOVE) {
      direct.push(path);
      continue;
    }
    const name = basename(path);
    let batch = batches.find((b) => b.files.length < BATCH && !b.names.has(name));
    if (!batch) {
      batch = { names: new Set(), files: [] };
      batches.push(batch);
    }
    batch.names.add(name);
    batch.files.push(path);
  }
  if (batches.length === 0) {
    await tarArchiveRead(direct, keep, out, options);
    return;
  }
  const scratch = await mkdtemp(join(tmpdir(), 'gantry-xattr-'));
  try {
    const names = new Map<string, string>();
    for (const [i, batch] of batches.entries()) {
      const dir = join(scratch, String(i));
      await mkdir(dir);
      const res = await run(
        'cp',
        ['--attributes-only', '--preserve=xattr', '-P', '-t', dir, '--', ...batch.files],
        options,
      );
      if (res.code !== 0) throw readFailed('through cp --attributes-only', res.stderr.split('\n').pop() ?? '');
      for (const file of batch.files) names.set(join(dir, basename(file)), file);
    }
    await tarArchiveRead([...direct, ...names.keys()], keep, out, options, names);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// Copies the attributes of each stand-in onto its target, one shell for the whole batch.
const CP_LOOP =
  'while [ $# -gt 0 ]; do cp -r -P -T --attributes-only --preserve=xattr "$1" "$2" || exit 1; shift 2; done';

async function tarWrite(values: XattrMap, options: IoOptions): Promise<void> {
  const targets = [...values].filter(([, attrs]) => Object.keys(attrs).length > 0);
  if (targets.length === 0) return;
  const scratch = await mkdtemp(join(tmpdir(), 'gantry-xattr-'));
  try {
    const inputs: TarInput[] = [];
    const pairs: string[] = [];
    for (const [i, [path, attrs]] of targets.entries()) {
      const st = await lstat(path);
      // cp would open a fifo or a device node to copy onto it: only files and directories.
      if (!st.isFile() && !st.isDirectory()) continue;
      const name = `e${i}`;
      inputs.push({
        entry: {
          path: name,
          type: st.isDirectory() ? 'directory' : 'file',
          mode: 0o700,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: 0,
          xattrs: attrs,
        },
      });
      pairs.push(join(scratch, name), path);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of tarStream(inputs, options)) chunks.push(chunk as Buffer);
    const x = await run('tar', ['--xattrs', '--xattrs-include=*', '--no-same-owner', '-C', scratch, '-x', '-f', '-'], {
      ...options,
      input: Buffer.concat(chunks),
    });
    // tar only warns when it cannot set an attribute; the stand-ins are checked below instead.
    if (x.code !== 0) throw writeFailed(`tar -x: ${x.stderr.split('\n').pop()}`);
    for (let i = 0; i < pairs.length; i += 2 * BATCH) {
      throwIfAborted(options.signal);
      const res = await run('sh', ['-c', CP_LOOP, 'sh', ...pairs.slice(i, i + 2 * BATCH)], options);
      if (res.code !== 0) throw writeFailed(`cp --attributes-only: ${res.stderr.split('\n').pop()}`);
    }
    if (x.stderr !== '') {
      // A stand-in without its attributes (EPERM for security.* without root) fails like setfattr does.
      const got: XattrMap = new Map();
      await tarArchiveRead(
        (await readdir(scratch)).map((n) => join(scratch, n)),
        () => true,
        got,
        options,
      );
      for (const { entry } of inputs) {
        const want = Object.keys(entry.xattrs ?? {});
        const have = got.get(join(scratch, entry.path)) ?? {};
        if (want.some((n) => !(n in have))) throw writeFailed(x.stderr.split('\n').pop() ?? 'tar could not set them');
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The interface

/** Attributes whose names match `pattern` (a regex; '-' for all) of `paths`; symlinks not followed. */
export async function readXattrPaths(
  paths: readonly string[],
  pattern: string,
  options: IoOptions = {},
): Promise<XattrMap> {
  const out: XattrMap = new Map();
  if (paths.length === 0) return out;
  if ((await method()) === 'attr') {
    for (let i = 0; i < paths.length; i += BATCH) {
      await getfattr(['-m', pattern, '--', ...paths.slice(i, i + BATCH)], 'of files', out, options);
    }
  } else {
    await tarRead(paths, matcher(pattern), out, options);
  }
  return out;
}

/** Every path under `root` (itself included), not descending into symlinks. */
async function treePaths(root: string, options: IoOptions): Promise<string[]> {
  const out = [root];
  const visit = async (dir: string): Promise<void> => {
    throwIfAborted(options.signal);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      out.push(abs);
      if (e.isDirectory()) await visit(abs);
    }
  };
  await visit(root);
  return out;
}

/**
 * Attributes whose names match `pattern` of every path under `root`, keyed by absolute path.
 * `only` narrows which paths can carry them (overlay's opaque marker sits on directories only),
 * which the tar method uses to avoid reading file contents.
 */
export async function readXattrTree(
  root: string,
  pattern: string,
  options: IoOptions & { readonly only?: 'directories' } = {},
): Promise<XattrMap> {
  if ((await method()) === 'attr') {
    const out: XattrMap = new Map();
    await getfattr(['-R', '-P', '-m', pattern, '--', root], `under ${root}`, out, options);
    return out;
  }
  let paths = await treePaths(root, options);
  if (options.only === 'directories') {
    const dirs: string[] = [];
    for (const p of paths) if ((await lstat(p)).isDirectory()) dirs.push(p);
    paths = dirs;
  }
  const out: XattrMap = new Map();
  await tarRead(paths, matcher(pattern), out, options);
  return out;
}

/**
 * The attributes of a layer entry that extraction sets on disk: overlay's own markers never (a
 * layer that carries them would hide or redirect lower content), and without root only user.*
 * (the other namespaces need privileges). Undefined when nothing is left.
 */
export function xattrsToApply(
  attrs: Readonly<Record<string, Buffer>> | undefined,
  privileged: boolean,
): Record<string, Buffer> | undefined {
  if (!attrs) return undefined;
  const out: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(attrs)) {
    // overlay's own marks, and gantry's device-placeholder mark, are never taken from a layer: a
    // layer could otherwise hide lower files or forge a device node.
    if (name.startsWith('trusted.overlay.') || /^(trusted|user)\.gantry\./.test(name)) continue;
    if (!privileged && !name.startsWith('user.')) continue;
    out[name] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Sets the attributes given per path (symlinks not followed); attributes not named stay as they
 * are. `skipMissing` leaves out paths that are gone or are symlinks (extraction: a later entry
 * replaced them).
 */
export async function writeXattrs(
  values: XattrMap,
  options: IoOptions & { readonly skipMissing?: boolean } = {},
): Promise<void> {
  if (options.skipMissing) {
    const present: XattrMap = new Map();
    for (const [path, attrs] of values) {
      const st = await lstat(path).catch(() => undefined);
      if (st && !st.isSymbolicLink()) present.set(path, attrs);
    }
    values = present;
  }
  if (values.size === 0) return;
  if ((await method()) === 'attr') await setfattrRestore(values, options);
  else await tarWrite(values, options);
}

/** Sets one attribute, the same value, on many paths. */
export async function setXattr(paths: readonly string[], name: string, value: string, options: IoOptions = {}) {
  const values: XattrMap = new Map();
  for (const p of paths) values.set(p, { [name]: Buffer.from(value, 'utf8') });
  await writeXattrs(values, options);
}
