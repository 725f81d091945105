/**
 * Test harness: independent validators. skopeo and umoci read what gantry writes (layouts,
 * archives, registry pushes); these wrappers run them with the right transport flags for a test
 * registry and return their JSON parsed.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import type { TestRegistry } from './registry.js';
import { type RunResult, run } from './run.js';

/** How skopeo reaches one side of a docker:// transfer. */
export interface SkopeoTransportOptions {
  /** false for plain-HTTP registries (skopeo then falls back from https to http). */
  readonly tlsVerify?: boolean;
  /** A certs.d style directory with the CA (ca.crt) to trust. */
  readonly certDir?: string;
  /** `user:password`. */
  readonly creds?: string;
}

/** The flags a test registry needs: no TLS verification for http, its CA dir for TLS, its credentials for basic auth. */
export function transportFor(reg: TestRegistry): SkopeoTransportOptions {
  return {
    tlsVerify: reg.url.startsWith('https:'),
    certDir: reg.certsDir,
    creds: reg.username !== undefined ? `${reg.username}:${reg.password ?? ''}` : undefined,
  };
}

function transportFlags(prefix: '' | 'src-' | 'dest-', t: SkopeoTransportOptions | undefined): string[] {
  if (!t) return [];
  const flags: string[] = [];
  if (t.tlsVerify !== undefined) flags.push(`--${prefix}tls-verify=${t.tlsVerify}`);
  if (t.certDir) flags.push(`--${prefix}cert-dir`, t.certDir);
  if (t.creds) flags.push(`--${prefix}creds`, t.creds);
  return flags;
}

// Tests must not depend on the machine's trust policy (signature requirements) or its auth file.
const SKOPEO_GLOBAL = ['--insecure-policy'];

async function skopeo(args: readonly string[], signal: AbortSignal | undefined): Promise<RunResult> {
  return run('skopeo', [...SKOPEO_GLOBAL, ...args], {
    signal,
    env: { ...process.env, REGISTRY_AUTH_FILE: '/nonexistent/gantry-test-auth.json' },
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${what} printed no JSON: ${text.slice(0, 200)}`, { cause: err });
  }
}

export interface SkopeoInspectOptions extends SkopeoTransportOptions {
  readonly signal?: AbortSignal;
}

/** What `skopeo inspect` prints for one image (the fields tests look at). */
export interface SkopeoInspect {
  readonly Name?: string;
  readonly Digest: string;
  readonly Created?: string;
  readonly Architecture: string;
  readonly Os: string;
  readonly Variant?: string;
  readonly Layers: readonly string[];
  readonly Env?: readonly string[] | null;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly [key: string]: unknown;
}

/** `skopeo inspect REF` for one image (an index resolves to the host platform). */
export async function skopeoInspect(transportRef: string, opts: SkopeoInspectOptions = {}): Promise<SkopeoInspect> {
  const res = await skopeo(['inspect', ...transportFlags('', opts), transportRef], opts.signal);
  return parseJson(res.stdout, `skopeo inspect ${transportRef}`) as SkopeoInspect;
}

/** `skopeo inspect --raw REF`: the manifest or index bytes exactly as stored, their digest, and the parsed JSON. */
export async function skopeoInspectRaw(
  transportRef: string,
  opts: SkopeoInspectOptions = {},
): Promise<{ bytes: Buffer; digest: string; json: unknown }> {
  const res = await skopeo(['inspect', '--raw', ...transportFlags('', opts), transportRef], opts.signal);
  const bytes = res.stdoutBytes;
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { bytes, digest, json: parseJson(res.stdout, `skopeo inspect --raw ${transportRef}`) };
}

/** `skopeo inspect --config REF`: the image config JSON. */
export async function skopeoInspectConfig(transportRef: string, opts: SkopeoInspectOptions = {}): Promise<unknown> {
  const res = await skopeo(['inspect', '--config', ...transportFlags('', opts), transportRef], opts.signal);
  return parseJson(res.stdout, `skopeo inspect --config ${transportRef}`);
}

export interface SkopeoCopyOptions {
  /** Copy every image of an index (`--all`). */
  readonly all?: boolean;
  readonly src?: SkopeoTransportOptions;
  readonly dest?: SkopeoTransportOptions;
  /** Convert the manifest format (`--format`); by default skopeo keeps it when it can. */
  readonly format?: 'oci' | 'v2s2';
  /** Fail instead of changing anything that would change digests. */
  readonly preserveDigests?: boolean;
  readonly signal?: AbortSignal;
}

/** `skopeo copy SRC DEST`. */
export async function skopeoCopy(src: string, dest: string, opts: SkopeoCopyOptions = {}): Promise<void> {
  const args = ['copy', '--quiet'];
  if (opts.all) args.push('--all');
  if (opts.format) args.push('--format', opts.format);
  if (opts.preserveDigests) args.push('--preserve-digests');
  args.push(...transportFlags('src-', opts.src), ...transportFlags('dest-', opts.dest), src, dest);
  await skopeo(args, opts.signal);
}

/** What `umoci stat --json` prints. */
export interface UmociStat {
  readonly history: readonly {
    readonly layer?: { readonly mediaType: string; readonly digest: string; readonly size: number } | null;
    readonly diff_id?: string;
    readonly created?: string;
    readonly created_by?: string;
    readonly empty_layer?: boolean;
  }[];
  readonly [key: string]: unknown;
}

export interface UmociOptions {
  /**
   * `os/arch[/variant]` of one image when TAG names a multi-platform index: umoci 0.4 refuses
   * those ("tag is ambiguous"), so it is shown a view of the layout whose index.json names only
   * that platform's manifest (the blobs are the original's, through a symlink; nothing is written
   * to the original).
   */
  readonly platform?: string;
  readonly signal?: AbortSignal;
}

interface LooseDescriptor {
  readonly mediaType?: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string };
  readonly annotations?: Readonly<Record<string, string>>;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Runs `body` with a layout and tag umoci can read: the original, or a single-platform view of it. */
async function withUmociImage<T>(
  layoutDir: string,
  tag: string,
  platform: string | undefined,
  body: (image: string) => Promise<T>,
): Promise<T> {
  if (platform === undefined) return body(`${layoutDir}:${tag}`);
  const top = await readJson<{ manifests: LooseDescriptor[] }>(join(layoutDir, 'index.json'));
  const entry = top.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!entry) throw new Error(`${layoutDir} has no tag ${tag}`);
  const [dir, hex] = entry.digest.split(':');
  const index = await readJson<{ manifests?: LooseDescriptor[] }>(join(layoutDir, 'blobs', dir ?? '', hex ?? ''));
  const name = (d: LooseDescriptor) =>
    [d.platform?.os, d.platform?.architecture, d.platform?.variant].filter((x) => x !== undefined).join('/');
  const child = (index.manifests ?? []).find((d) => name(d) === platform);
  if (!child) {
    const have = (index.manifests ?? []).map(name).join(', ');
    throw new Error(`${layoutDir}:${tag} has no ${platform} image (it has: ${have || 'none'})`);
  }
  const view = await mkdtemp(join(tmpdir(), 'gantry-umoci-view-'));
  try {
    await copyFile(join(layoutDir, 'oci-layout'), join(view, 'oci-layout'));
    await symlink(resolve(layoutDir, 'blobs'), join(view, 'blobs'));
    const { platform: _p, annotations: _a, ...desc } = child;
    await writeFile(
      join(view, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { [REF_NAME_ANNOTATION]: tag } }] }),
    );
    return await body(`${view}:${tag}`);
  } finally {
    await rm(view, { recursive: true, force: true });
  }
}

/** `umoci stat --json --image LAYOUT:TAG`: umoci resolves the tag to one manifest and reads its config. */
export async function umociStat(layoutDir: string, tag: string, opts: UmociOptions = {}): Promise<UmociStat> {
  return withUmociImage(layoutDir, tag, opts.platform, async (image) => {
    const res = await run('umoci', ['stat', '--json', '--image', image], { signal: opts.signal });
    return parseJson(res.stdout, `umoci stat ${image}`) as UmociStat;
  });
}

/**
 * `umoci unpack --rootless --image LAYOUT:TAG BUNDLE`: extracts the image into BUNDLE/rootfs
 * (BUNDLE must not exist yet) with a runtime config beside it. Returns the rootfs path.
 */
export async function umociUnpack(
  layoutDir: string,
  tag: string,
  bundleDir: string,
  opts: UmociOptions = {},
): Promise<{ rootfs: string }> {
  await withUmociImage(layoutDir, tag, opts.platform, (image) =>
    run('umoci', ['unpack', '--rootless', '--image', image, bundleDir], { signal: opts.signal }),
  );
  return { rootfs: join(bundleDir, 'rootfs') };
}
