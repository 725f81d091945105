/**
 * `mutate`: changes the runtime config (entrypoint, cmd, env, labels, user, workdir, exposed
 * ports, platform) or the manifest annotations of a remote image, as `crane mutate` does. Only
 * the config and the manifest are rewritten and pushed; the layers stay where they are (checked
 * or mounted, never downloaded). On an index only the annotations can change (crane's rule too).
 */
import { isImageIndex } from '../oci/image.js';
import { normalizePlatform } from '../oci/platform.js';
import type { Index, Manifest, Platform } from '../oci/types.js';
import {
  EditedImage,
  EditedIndex,
  io,
  openRemote,
  type Pushed,
  pushTo,
  rawConfigObject,
  targetOf,
  usage,
} from './edit.js';
import type { CommonOptions } from './session.js';
import { platformOf } from './transfer.js';

export interface MutateOptions extends CommonOptions {
  /** Where to push: a tag of the same repository or a full reference (default: by digest, same repository). */
  readonly tag?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** Set (or replace) environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Set (or replace) config labels. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Set (or replace) manifest (or index) annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly workdir?: string;
  /** The exposed ports (`8080`, `53/udp`), replacing the image's. */
  readonly exposedPorts?: readonly string[];
  /** A new platform for the config (`linux/arm64`). */
  readonly platform?: Platform | string;
}

type Json = Record<string, unknown>;

function portKey(port: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(port.trim());
  if (!m || Number(m[1]) > 65535 || (m[2] !== undefined && Number(m[2]) > 65535)) {
    throw usage(`invalid exposed port ${JSON.stringify(port)}`, 'give PORT or PORT/PROTOCOL, e.g. 8080 or 53/udp');
  }
  return `${m[1]}${m[2] ? `-${m[2]}` : ''}/${(m[3] ?? 'tcp').toLowerCase()}`;
}

function hasConfigEdits(o: MutateOptions): boolean {
  return (
    o.entrypoint !== undefined ||
    o.cmd !== undefined ||
    (o.env !== undefined && Object.keys(o.env).length > 0) ||
    (o.labels !== undefined && Object.keys(o.labels).length > 0) ||
    o.user !== undefined ||
    o.workdir !== undefined ||
    o.exposedPorts !== undefined ||
    o.platform !== undefined
  );
}

function editEnv(env: readonly string[], set: Readonly<Record<string, string>>): string[] {
  const out = [...env];
  for (const [key, value] of Object.entries(set)) {
    if (key === '' || key.includes('='))
      throw usage(`invalid environment variable name ${JSON.stringify(key)}`, 'give KEY=VALUE');
    const at = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
    if (at >= 0) out[at] = `${key}=${value}`;
    else out.push(`${key}=${value}`);
  }
  return out;
}

/** The config with the edits of `o` applied; fields it does not name are kept as they are. */
export function mutateConfig(config: Json, o: MutateOptions): Json {
  const runtime: Json = { ...((config.config as Json | undefined) ?? {}) };
  if (o.entrypoint !== undefined) runtime.Entrypoint = [...o.entrypoint];
  if (o.cmd !== undefined) runtime.Cmd = [...o.cmd];
  if (o.env !== undefined && Object.keys(o.env).length > 0) {
    runtime.Env = editEnv((runtime.Env as string[] | undefined) ?? [], o.env);
  }
  if (o.labels !== undefined && Object.keys(o.labels).length > 0) {
    runtime.Labels = { ...((runtime.Labels as Json | undefined) ?? {}), ...o.labels };
  }
  if (o.user !== undefined) runtime.User = o.user;
  if (o.workdir !== undefined) runtime.WorkingDir = o.workdir;
  if (o.exposedPorts !== undefined) {
    runtime.ExposedPorts = Object.fromEntries(o.exposedPorts.map((p) => [portKey(p), {}]));
  }
  const out: Json = { ...config, config: runtime };
  const platform = platformOf(o.platform);
  if (platform !== undefined) {
    const p = normalizePlatform(platform);
    delete out.variant;
    delete out['os.version'];
    delete out['os.features'];
    out.os = p.os;
    out.architecture = p.architecture;
    if (p.variant !== undefined) out.variant = p.variant;
    if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
    if (p['os.features'] !== undefined) out['os.features'] = [...p['os.features']];
  }
  return out;
}

function withAnnotations<T extends Manifest | Index>(doc: T, annotations: MutateOptions['annotations']): T {
  if (annotations === undefined || Object.keys(annotations).length === 0) return doc;
  return { ...doc, annotations: { ...(doc.annotations ?? {}), ...annotations } };
}

/** Changes the config or annotations of a remote image and pushes the result; returns where it went. */
export async function mutate(reference: string, options: MutateOptions = {}): Promise<Pushed> {
  const { client, ref, item } = await openRemote(reference, options);
  const o = io(options);
  const target = targetOf(ref, options.tag);
  if (isImageIndex(item)) {
    if (hasConfigEdits(options)) {
      throw usage(
        `${reference} is a multi-platform index: only its annotations can be changed`,
        'mutate one platform by its digest (gantry inspect lists them), or give only --annotation',
      );
    }
    const edited = new EditedIndex(withAnnotations(await item.indexManifest(o), options.annotations), item);
    return pushTo(client, target, edited, options);
  }
  const manifest = withAnnotations(await item.manifest(o), options.annotations);
  const config = mutateConfig(await rawConfigObject(item, o), options);
  const edited = new EditedImage(manifest, config, await item.layers(o));
  return pushTo(client, target, edited, options);
}
