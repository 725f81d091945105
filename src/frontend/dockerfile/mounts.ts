/**
 * RUN --mount: what each mount type becomes for the sandbox, and what of it enters the step's
 * cache key. Nothing mounted is ever written into the step's layer: the executor removes the
 * mount points it created, and the mounted files live outside the snapshot.
 *
 * - cache: a directory kept in the store (`cache/mounts/`) by id, shared by every build; its
 *   contents never enter a cache key (as in BuildKit).
 * - bind: a read-only view of the build context, a stage or an image; its files' digest enters
 *   the key.
 * - tmpfs: an empty scratch directory for the step only.
 * - ssh: the socket of an SSH agent given with `--ssh ID=SOCKET` (see ssh.ts), at
 *   /run/buildkit/ssh_agent.0 by default, with SSH_AUTH_SOCK pointing at it; never in the key.
 * - secret: a file given with `--secret id=ID,src=PATH` (or `env=VAR`), at /run/secrets/ID by
 *   default, read-only; never in the key, the layer, the history or on the host's disk.
 */
import { chmod, chown as lchownDir, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { MountField } from '../../dockerfile/index.js';
import type { BindMount, SecretFile } from '../../engine/executor/index.js';
import { GantryError } from '../../errors.js';
import { createDigester } from '../../oci/digest.js';
import { ownerTag } from '../../store/cleanup.js';
import { mkdirp } from '../../util/fs.js';

export type MountSpec =
  | {
      readonly type: 'cache';
      readonly target: string;
      readonly id: string;
      readonly readonly: boolean;
      readonly mode?: number;
      readonly uid?: number;
      readonly gid?: number;
    }
  | { readonly type: 'bind'; readonly target: string; readonly source: string; readonly from?: string }
  | { readonly type: 'tmpfs'; readonly target: string }
  | { readonly type: 'secret'; readonly target: string; readonly id: string; readonly required: boolean }
  | { readonly type: 'ssh'; readonly target: string; readonly id: string; readonly required: boolean };

/** A secret given on the command line: a file, or an environment variable's value. */
export type SecretSource = { readonly file: string } | { readonly env: string };

function bad(message: string, suggestion: string): GantryError {
  return new GantryError('RUN_MOUNT_INVALID', message, { phase: 'build', suggestion });
}

function truthy(value: string | undefined): boolean {
  return value === undefined || value === 'true' || value === '1';
}

/** Reads one `--mount` value into a typed spec; `workdir` makes a relative target absolute. */
export function parseMount(fields: readonly MountField[], workdir: string, line: number): MountSpec {
  const get = (...keys: string[]) => fields.find((f) => keys.includes(f.key));
  const type = get('type')?.value ?? 'bind';
  const targetField = get('target', 'dst', 'destination');
  const rawTarget = targetField?.value;
  const target = rawTarget === undefined ? undefined : posix.resolve(workdir || '/', rawTarget);
  const num = (key: string, base = 10): number | undefined => {
    const v = get(key)?.value;
    if (v === undefined) return undefined;
    const n = Number.parseInt(v, base);
    if (Number.isNaN(n)) throw bad(`RUN --mount ${key}=${v} is not a number (line ${line})`, `give ${key} as a number`);
    return n;
  };
  switch (type) {
    case 'cache': {
      if (!target) throw bad(`RUN --mount=type=cache needs target= (line ${line})`, 'add target=/path/in/the/image');
      const mode = num('mode', 8);
      const uid = num('uid');
      const gid = num('gid');
      return {
        type,
        target,
        id: get('id')?.value ?? target,
        readonly: truthy(get('ro', 'readonly')?.value) && get('ro', 'readonly') !== undefined,
        ...(mode !== undefined ? { mode } : {}),
        ...(uid !== undefined ? { uid } : {}),
        ...(gid !== undefined ? { gid } : {}),
      };
    }
    case 'bind': {
      if (!target) throw bad(`RUN --mount=type=bind needs target= (line ${line})`, 'add target=/path/in/the/image');
      if (get('rw', 'readwrite') !== undefined && truthy(get('rw', 'readwrite')?.value)) {
        throw bad(
          `RUN --mount=type=bind,rw is not supported (line ${line})`,
          'bind read-only, or COPY what the step changes',
        );
      }
      const from = get('from')?.value;
      return { type, target, source: get('source', 'src')?.value ?? '/', ...(from ? { from } : {}) };
    }
    case 'tmpfs':
      if (!target) throw bad(`RUN --mount=type=tmpfs needs target= (line ${line})`, 'add target=/path/in/the/image');
      return { type, target };
    case 'secret': {
      const id = get('id')?.value ?? (rawTarget ? posix.basename(rawTarget) : undefined);
      if (!id)
        throw bad(`RUN --mount=type=secret needs id= (line ${line})`, 'add id=NAME and pass --secret id=NAME,src=FILE');
      return {
        type,
        target: target ?? `/run/secrets/${id}`,
        id,
        required: truthy(get('required')?.value) && get('required') !== undefined,
      };
    }
    case 'ssh':
      return {
        type,
        target: target ?? '/run/buildkit/ssh_agent.0',
        id: get('id')?.value ?? 'default',
        required: truthy(get('required')?.value) && get('required') !== undefined,
      };
    default:
      throw bad(
        `RUN --mount=type=${type} is not supported (line ${line})`,
        'use type=cache, bind, tmpfs, secret or ssh',
      );
  }
}

/** The part of a mount that decides the step's result, for its cache key (no contents). */
export function mountKey(spec: MountSpec): string {
  switch (spec.type) {
    case 'cache':
      return `cache:${spec.id}:${spec.target}:${spec.readonly}`;
    case 'bind':
      return `bind:${spec.target}:${spec.from ?? 'context'}:${spec.source}`;
    case 'tmpfs':
      return `tmpfs:${spec.target}`;
    case 'secret':
      return `secret:${spec.id}:${spec.target}`;
    case 'ssh':
      return `ssh:${spec.id}:${spec.target}`;
  }
}

/** The store directory that backs a cache mount id, created on first use. */
export async function cacheMountDir(storeDir: string, spec: Extract<MountSpec, { type: 'cache' }>): Promise<BindMount> {
  const d = createDigester('sha256');
  d.update(Buffer.from(spec.id));
  const dir = join(storeDir, 'cache', 'mounts', d.digest().slice('sha256:'.length));
  const exists = await stat(dir).catch(() => undefined);
  if (!exists) {
    await mkdirp(dir);
    await chmod(dir, spec.mode ?? 0o755);
    if (spec.uid !== undefined || spec.gid !== undefined) await lchownDir(dir, spec.uid ?? 0, spec.gid ?? 0);
  }
  return { source: dir, target: spec.target, readonly: spec.readonly };
}

/** A scratch directory for a tmpfs mount (disk-backed here; removed with the step). */
export async function scratchMount(
  spec: Extract<MountSpec, { type: 'tmpfs' }>,
): Promise<{ mount: BindMount; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), `gantry-tmpfs-${ownerTag()}-`));
  await chmod(dir, 0o1777);
  return { mount: { source: dir, target: spec.target }, dir };
}

/**
 * The secret for the sandbox, held in memory only: the executor hands it to the sandbox through
 * a pipe, and it lives on a tmpfs of the sandbox's own mount namespace (dies with it, even when
 * gantry is killed). Nothing is written to the host's disk.
 */
export async function secretMount(
  spec: Extract<MountSpec, { type: 'secret' }>,
  secrets: Readonly<Record<string, SecretSource>>,
): Promise<SecretFile | undefined> {
  const given = secrets[spec.id];
  if (!given) {
    if (spec.required) {
      throw new GantryError(
        'SECRET_MISSING',
        `the build needs secret ${JSON.stringify(spec.id)}, which was not given`,
        {
          phase: 'build',
          suggestion: `pass --secret id=${spec.id},src=FILE (or env=VARIABLE)`,
        },
      );
    }
    return undefined;
  }
  return { target: spec.target, data: await readSecret(spec.id, given) };
}

/** A secret's value, from its file or environment variable. */
export async function readSecret(id: string, given: SecretSource): Promise<Buffer> {
  if ('env' in given) {
    const value = process.env[given.env];
    if (value === undefined) {
      throw new GantryError('SECRET_MISSING', `secret ${id}: environment variable ${given.env} is not set`, {
        phase: 'build',
        suggestion: `set ${given.env}, or pass the secret with src=FILE`,
      });
    }
    return Buffer.from(value);
  }
  return readFile(given.file).catch((err: NodeJS.ErrnoException) => {
    throw new GantryError('SECRET_MISSING', `secret ${id}: cannot read ${given.file} (${err.code ?? err.message})`, {
      phase: 'build',
      suggestion: 'check the src= path of --secret',
    });
  });
}

/** `id=ID,src=PATH` | `id=ID,env=VAR` | `id=ID` (env var ID), as docker buildx reads --secret. */
export function parseSecretFlag(value: string): { id: string; source: SecretSource } {
  const fields = new Map<string, string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new GantryError('USAGE', `invalid --secret ${JSON.stringify(value)}`, {
        phase: 'usage',
        suggestion: 'write --secret id=NAME,src=FILE',
      });
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const id = fields.get('id');
  if (!id)
    throw new GantryError('USAGE', `--secret ${JSON.stringify(value)} has no id=`, {
      phase: 'usage',
      suggestion: 'write --secret id=NAME,src=FILE',
    });
  const src = fields.get('src') ?? fields.get('source');
  const env = fields.get('env');
  return { id, source: src ? { file: src } : { env: env ?? id } };
}
