// Shared by the Dockerfile build tests: a store with the busybox fixture loaded, `gantry build`
// with --progress=json read back as steps, the image config as written (skopeo --raw, so Docker
// fields like Healthcheck and Shell are kept), and file trees read back for comparison.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gantry, type Result, run, tool } from '../cli/helpers.js';
import { busyboxImage } from '../harness/fixtures.js';

export { gantry, repoRoot, run, tool, withTempDir } from '../cli/helpers.js';

/** A new store under `dir` with the busybox fixture loaded as `busybox:1`. Returns its path. */
export async function busyboxStore(dir: string): Promise<string> {
  const fixture = await busyboxImage();
  const store = join(dir, 'store');
  const r = await gantry(['load', fixture.layoutDir, '-t', 'busybox:1'], { store });
  if (r.code !== 0) throw new Error(`gantry load: ${r.stderr}`);
  return store;
}

/** Writes files under `root`: a string is the content (mode 0644); directories are made as needed. */
export async function writeTree(
  root: string,
  files: Readonly<Record<string, string | { readonly content: string | Buffer; readonly mode: number }>>,
): Promise<void> {
  for (const [rel, spec] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(dirname(path), { recursive: true });
    const content = typeof spec === 'string' ? spec : spec.content;
    await writeFile(path, content);
    await chmod(path, typeof spec === 'string' ? 0o644 : spec.mode);
  }
}

export interface ProgressJson {
  readonly type: 'start' | 'progress' | 'log' | 'done' | 'error' | 'warning';
  readonly id: string;
  readonly name?: string;
  readonly cached?: boolean;
  readonly line?: string;
  readonly message?: string;
  readonly code?: string;
}

/** One build step as --progress=json reported it. */
export interface StepReport {
  readonly id: string;
  readonly name: string;
  readonly cached: boolean;
  readonly done: boolean;
  readonly error?: string;
  readonly logs: readonly string[];
}

export interface BuildReport extends Result {
  readonly events: readonly ProgressJson[];
  /** The Dockerfile steps (`[stage] INSTRUCTION ...`), in the order they started; FROM lines excluded. */
  readonly steps: readonly StepReport[];
}

/** `gantry build --progress=json ARGS`, its events grouped into steps. */
export async function buildJson(
  args: readonly string[],
  options: { store: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<BuildReport> {
  const r = await gantry(['build', '--progress=json', ...args], options);
  const events: ProgressJson[] = [];
  for (const line of r.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    events.push(JSON.parse(line) as ProgressJson);
  }
  const byId = new Map<
    string,
    { id: string; name: string; cached: boolean; done: boolean; error?: string; logs: string[] }
  >();
  for (const e of events) {
    if (
      e.type === 'start' &&
      e.name !== undefined &&
      /^\[[^\]]+\] /.test(e.name) &&
      !/^\[[^\]]+\] FROM /.test(e.name)
    ) {
      byId.set(e.id, { id: e.id, name: e.name, cached: false, done: false, logs: [] });
      continue;
    }
    const s = byId.get(e.id);
    if (!s) continue;
    if (e.type === 'done') {
      s.done = true;
      s.cached = e.cached === true;
    } else if (e.type === 'error') s.error = e.message ?? '';
    else if (e.type === 'log' && e.line !== undefined) s.logs.push(e.line);
  }
  return { ...r, events, steps: [...byId.values()] };
}

/** The last line gantry printed on stderr (the error line on failure). */
export function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}

export interface ContainerConfigJson {
  readonly User?: string;
  readonly ExposedPorts?: Record<string, object>;
  readonly Env?: string[];
  readonly Entrypoint?: string[] | null;
  readonly Cmd?: string[] | null;
  readonly Volumes?: Record<string, object> | null;
  readonly WorkingDir?: string;
  readonly Labels?: Record<string, string> | null;
  readonly StopSignal?: string;
  readonly Healthcheck?: {
    readonly Test?: string[];
    readonly Interval?: number;
    readonly Timeout?: number;
    readonly StartPeriod?: number;
    readonly StartInterval?: number;
    readonly Retries?: number;
  };
  readonly Shell?: string[];
  readonly OnBuild?: string[] | null;
}

export interface ImageConfigJson {
  readonly architecture: string;
  readonly os: string;
  readonly author?: string;
  readonly config: ContainerConfigJson;
  readonly rootfs: { readonly diff_ids: string[] };
  readonly history?: { readonly created_by?: string; readonly empty_layer?: boolean; readonly comment?: string }[];
}

/** The config blob of `name` in the store, as written (skopeo inspect --config --raw). */
export async function rawConfig(store: string, name: string, arch?: string): Promise<ImageConfigJson> {
  const full = name.includes('/') ? name : `docker.io/library/${name.includes(':') ? name : `${name}:latest`}`;
  const args = ['inspect', '--config', '--raw', ...(arch ? ['--override-arch', arch] : []), `oci:${store}:${full}`];
  return JSON.parse(await tool('skopeo', args)) as ImageConfigJson;
}

/** Whether `gantry images` lists a repository named `repo`. */
export async function storeHas(store: string, repo: string): Promise<boolean> {
  const r = await gantry(['images'], { store });
  return r.stdout.split('\n').some((l) => l.split(/\s+/)[0] === repo);
}

/** One entry of a file tree, everything but times. */
export interface TreeEntry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  readonly size?: number;
  readonly sha256?: string;
  readonly target?: string;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every path under `root` (relative, sorted) with type, mode, owner, size, content digest, link target. */
export async function readTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const visit = async (rel: string): Promise<void> => {
    const path = rel === '' ? root : join(root, rel);
    const st = await lstat(path);
    const base = { mode: (st.mode & 0o7777).toString(8).padStart(4, '0'), uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      out.set(rel === '' ? '.' : rel, { type: 'dir', ...base });
      for (const name of (await readdir(path)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
    } else if (st.isSymbolicLink()) {
      out.set(rel, { type: 'symlink', ...base, target: await readlink(path) });
    } else if (st.isFile()) {
      out.set(rel, { type: 'file', ...base, size: st.size, sha256: await sha256File(path) });
    } else {
      out.set(rel, { type: 'other', ...base });
    }
  };
  await visit('');
  return out;
}

export async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

/** A gzip tar whose directory and files are owned by 2510:2516 (python's tarfile, not gantry's writer). */
export async function ownedArchive(path: string): Promise<void> {
  const script = `
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT) as tar:
    def add(name, kind, mode, data=b''):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid, info.gid = 2510, 2516
        info.mtime = 1485449953
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data else None)
    add('subdirectory', tarfile.DIRTYPE, 0o775)
    add('subdirectory/file', tarfile.REGTYPE, 0o664, b'owned\\n')
    add('subdirectory/setgid', tarfile.REGTYPE, 0o2755, b'#!/bin/sh\\n')
`;
  const r = await run('python3', ['-c', script, path]);
  if (r.code !== 0) throw new Error(`python3 tarfile: ${r.stderr}`);
}
