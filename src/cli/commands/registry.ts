/**
 * Registry commands: push, pull, copy, inspect, digest, tags, catalog, delete, login, logout.
 * Each is a thin verb over the library: image locations from src/engine/source.ts, the client
 * from src/registry.
 */
import {
  describeLocation,
  type ImageLocation,
  openImage,
  parseImageLocation,
  writeImage,
} from '../../engine/source.js';
import type { Image, ImageIndex } from '../../oci/image.js';
import { resolvePlatform } from '../../oci/partial.js';
import { formatPlatform, hostPlatform, parsePlatform } from '../../oci/platform.js';
import type { Descriptor, Platform } from '../../oci/types.js';
import { formatReference, parseReference, type Reference } from '../../reference/index.js';
import { login as loginWith, removeCredential } from '../../registry/auth/index.js';
import { registryError } from '../../registry/errors.js';
import { pullToLayout } from '../../registry/ops/pull.js';
import { createRegistryTransport, registryBaseUrl } from '../../registry/transport/index.js';
import { flag, parse, str } from '../args.js';
import { type Command, type CommandContext, usageError } from '../context.js';
import { createRenderer } from '../progress.js';
import { transportOptions } from '../registry.js';

function isIndex(item: Image | ImageIndex): item is ImageIndex {
  return 'indexManifest' in item;
}

function locationContext(ctx: CommandContext, progress?: Parameters<CommandContext['client']>[0]) {
  return {
    store: () => ctx.store(),
    client: () => ctx.client(progress),
    mirrors: (registry: string) => ctx.mirrors(registry),
  };
}

/** Narrows an index to one platform unless every platform is wanted. */
async function pickPlatform(
  item: Image | ImageIndex,
  platform: Platform | undefined,
  all: boolean,
  signal: AbortSignal,
): Promise<Image | ImageIndex> {
  if (!isIndex(item) || all) return item;
  return resolvePlatform(item, platform ?? hostPlatform(), { signal });
}

function platformFlag(value: string | undefined): Platform | undefined {
  return value === undefined ? undefined : parsePlatform(value);
}

function help(ctx: CommandContext, text: string): number {
  ctx.stdout.write(text);
  return 0;
}

/** Streams an image from one location to another (one platform of an index when given). */
async function transfer(
  srcLoc: ImageLocation,
  destLoc: ImageLocation,
  platform: Platform | undefined,
  ctx: CommandContext,
): Promise<number> {
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  const lc = locationContext(ctx, renderer.sink);
  const src = await openImage(srcLoc, lc, { signal: ctx.signal });
  try {
    const item = await pickPlatform(src.item, platform, platform === undefined, ctx.signal);
    const desc = await writeImage(item, destLoc, lc, { signal: ctx.signal });
    renderer.close();
    ctx.stdout.write(`${describeLocation(destLoc)}@${desc.digest}\n`);
    return 0;
  } finally {
    renderer.close();
    await src.close();
  }
}

export const pushHelp = `Usage: gantry push [OPTIONS] NAME [DEST]

Push an image from the store (or any location: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)
to a registry. DEST defaults to NAME.

Options:
      --platform P      push one platform of a multi-platform image
  -h, --help
`;

export const push: Command = async (args, ctx) => {
  const p = parse('push', args, { platform: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, pushHelp);
  const [name, dest, ...extra] = p.positionals;
  if (!name || extra.length > 0)
    throw usageError('gantry push takes NAME [DEST]', 'run gantry push NAME [REGISTRY/REPO:TAG]');
  const srcLoc: ImageLocation = /^(oci|oci-archive|docker-archive|store):/.test(name)
    ? parseImageLocation(name)
    : { kind: 'store', name };
  const destLoc: ImageLocation = dest ? parseImageLocation(dest) : { kind: 'registry', ref: parseReference(name) };
  const platform = platformFlag(str(p, 'platform'));
  return transfer(srcLoc, destLoc, platform, ctx);
};

export const pullHelp = `Usage: gantry pull [OPTIONS] REF

Pull an image from a registry into the store, named REF.

Options:
      --platform P       the platform to pull from a multi-platform image (default: this machine's)
      --all-platforms    keep the whole multi-platform index
`;

export const pull: Command = async (args, ctx) => {
  const p = parse('pull', args, {
    platform: { type: 'string' },
    'all-platforms': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) return help(ctx, pullHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry pull takes one image reference', 'run gantry pull REF');
  const ref = parseReference(input);
  const platform = platformFlag(str(p, 'platform'));
  const all = flag(p, 'all-platforms');
  if (all && platform) throw usageError('--platform and --all-platforms exclude each other', 'give one of them');
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  try {
    const client = await ctx.client(renderer.sink);
    const store = await ctx.store();
    const desc = await store.lease(async () => {
      let lastError: unknown;
      for (const registry of [...ctx.mirrors(ref.registry), ref.registry]) {
        try {
          const d = await pullToLayout(client, { ...ref, registry }, store.layout, {
            signal: ctx.signal,
            ...(platform ? { platform } : {}),
            allPlatforms: all,
          });
          await store.tag(d, [formatReference(ref)], { signal: ctx.signal });
          return d;
        } catch (err) {
          lastError = err;
          if (ctx.signal.aborted || registry === ref.registry) throw err;
        }
      }
      throw lastError;
    });
    renderer.close();
    ctx.stdout.write(`${formatReference(ref)}@${desc.digest}\n`);
    return 0;
  } finally {
    renderer.close();
  }
};

export const copyHelp = `Usage: gantry copy [OPTIONS] SRC DST

Copy an image between registries and files, streamed (no full local copy). SRC and DST are registry
references or oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME], store:NAME.

Options:
      --platform P       copy one platform of a multi-platform image
      --all-platforms    copy every platform (the default for a multi-platform source)
`;

export const copy: Command = async (args, ctx) => {
  const p = parse('copy', args, {
    platform: { type: 'string' },
    'all-platforms': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) return help(ctx, copyHelp);
  const [srcArg, dstArg, ...extra] = p.positionals;
  if (!srcArg || !dstArg || extra.length > 0)
    throw usageError('gantry copy takes SRC and DST', 'run gantry copy SRC DST');
  const srcLoc = parseImageLocation(srcArg);
  const dstLoc = parseImageLocation(dstArg);
  const platform = platformFlag(str(p, 'platform'));
  return transfer(srcLoc, dstLoc, platform, ctx);
};

export const inspectHelp = `Usage: gantry inspect [OPTIONS] REF

Show an image: a summary (JSON), its raw manifest (--raw) or its config (--config).

Options:
      --raw              print the manifest (or index) bytes as stored
      --config           print the image config
      --platform P       pick one platform of a multi-platform image
      --format json      the summary as JSON (the default)
`;

export const inspect: Command = async (args, ctx) => {
  const p = parse('inspect', args, {
    raw: { type: 'boolean' },
    config: { type: 'boolean' },
    platform: { type: 'string' },
    format: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) return help(ctx, inspectHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry inspect takes one image', 'run gantry inspect REF');
  const format = str(p, 'format') ?? 'json';
  if (format !== 'json') throw usageError(`invalid --format ${format}`, 'use --format json');
  const platform = platformFlag(str(p, 'platform'));
  const src = await openImage(parseImageLocation(input), locationContext(ctx), { signal: ctx.signal });
  try {
    const o = { signal: ctx.signal };
    let item = src.item;
    if (platform || (p.values.config === true && isIndex(item)))
      item = await pickPlatform(item, platform, false, ctx.signal);
    if (flag(p, 'raw')) {
      ctx.stdout.write(await item.rawManifest(o));
      return 0;
    }
    if (flag(p, 'config')) {
      if (isIndex(item)) throw usageError('an index has no config', 'pick a platform with --platform');
      ctx.stdout.write(`${JSON.stringify(await item.configFile(o), null, 2)}\n`);
      return 0;
    }
    const summary: Record<string, unknown> = {
      Name: src.name ?? input,
      Digest: await item.digest(o),
      MediaType: await item.mediaType(o),
    };
    if (isIndex(item)) {
      const index = await item.indexManifest(o);
      summary.Manifests = index.manifests.map((d: Descriptor) => ({
        Digest: d.digest,
        MediaType: d.mediaType,
        Size: d.size,
        ...(d.platform ? { Platform: formatPlatform(d.platform) } : {}),
      }));
    } else {
      const manifest = await item.manifest(o);
      const config = await item.configFile(o);
      Object.assign(summary, {
        Platform: formatPlatform({
          os: config.os,
          architecture: config.architecture,
          ...(config.variant ? { variant: config.variant } : {}),
        }),
        Created: config.created,
        Config: config.config ?? {},
        Layers: manifest.layers.map((l) => ({ Digest: l.digest, MediaType: l.mediaType, Size: l.size })),
        ConfigDigest: manifest.config.digest,
      });
    }
    ctx.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return 0;
  } finally {
    await src.close();
  }
};

export const digestHelp = `Usage: gantry digest REF

Print the digest of an image's manifest (or index).
`;

export const digest: Command = async (args, ctx) => {
  const p = parse('digest', args, { platform: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, digestHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry digest takes one image', 'run gantry digest REF');
  const platform = platformFlag(str(p, 'platform'));
  const loc = parseImageLocation(input);
  if (loc.kind === 'registry' && !platform) {
    // A HEAD is enough: no manifest body is read.
    const client = await ctx.client();
    const desc = await client.headManifest(loc.ref, { signal: ctx.signal });
    if (!desc) throw usageError(`${formatReference(loc.ref)} not found`, 'check the name and tag');
    ctx.stdout.write(`${desc.digest}\n`);
    return 0;
  }
  const src = await openImage(loc, locationContext(ctx), { signal: ctx.signal });
  try {
    const item = platform ? await pickPlatform(src.item, platform, false, ctx.signal) : src.item;
    ctx.stdout.write(`${await item.digest({ signal: ctx.signal })}\n`);
    return 0;
  } finally {
    await src.close();
  }
};

function repoOf(input: string): Reference {
  const ref = parseReference(input, { defaultTag: '' });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw usageError(`${input} names an image, not a repository`, 'give the repository without :TAG or @DIGEST');
  }
  return ref;
}

export const tagsHelp = `Usage: gantry tags REPO

List the tags of a repository (every page).
`;

export const tags: Command = async (args, ctx) => {
  const p = parse('tags', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, tagsHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry tags takes one repository', 'run gantry tags REGISTRY/REPO');
  const ref = repoOf(input);
  const client = await ctx.client();
  for (const tag of await client.tags({ registry: ref.registry, repository: ref.repository }, { signal: ctx.signal })) {
    ctx.stdout.write(`${tag}\n`);
  }
  return 0;
};

export const catalogHelp = `Usage: gantry catalog REGISTRY

List the repositories of a registry (every page).
`;

export const catalog: Command = async (args, ctx) => {
  const p = parse('catalog', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, catalogHelp);
  const [registry, ...extra] = p.positionals;
  if (!registry || extra.length > 0)
    throw usageError('gantry catalog takes one registry', 'run gantry catalog HOST[:PORT]');
  const client = await ctx.client();
  for (const repo of await client.catalog(registry, { signal: ctx.signal })) ctx.stdout.write(`${repo}\n`);
  return 0;
};

export const deleteHelp = `Usage: gantry delete REF

Delete a manifest from a registry (a tag is resolved to its digest first).
`;

export const del: Command = async (args, ctx) => {
  const p = parse('delete', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, deleteHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry delete takes one image reference', 'run gantry delete REF');
  const ref = parseReference(input);
  const client = await ctx.client();
  await client.deleteManifest(ref, { signal: ctx.signal });
  ctx.stdout.write(`Deleted ${formatReference(ref)}\n`);
  return 0;
};

export const loginHelp = `Usage: gantry login [OPTIONS] REGISTRY

Check a credential against the registry, then store it (in the docker credsStore when one is
configured, else in the docker config.json).

Options:
  -u, --username USER    the user name
      --password-stdin   read the password (or token) from stdin
`;

export const login: Command = async (args, ctx) => {
  const p = parse('login', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, loginHelp);
  const [registryArg, ...extra] = p.positionals;
  if (!registryArg || extra.length > 0)
    throw usageError('gantry login takes one registry', 'run gantry login REGISTRY -u USER --password-stdin');
  if (!ctx.flags.username || !ctx.flags.passwordStdin) {
    throw usageError(
      'gantry login needs -u USER and --password-stdin',
      'run: echo "$TOKEN" | gantry login REGISTRY -u USER --password-stdin',
    );
  }
  const password = await ctx.readPassword();
  if (!password) throw usageError('no password on stdin', 'pipe the password or token into --password-stdin');
  const registry = normalizeRegistry(registryArg);
  const credential = { username: ctx.flags.username, password, source: 'gantry login' };
  const { transport } = await transportOptions({ flags: ctx.flags, signal: ctx.signal });
  await loginWith(registry, credential, {
    verify: async (cred) => {
      const rt = createRegistryTransport(registry, {
        ...transport,
        keychain: { resolve: async () => cred },
      });
      const base = await registryBaseUrl(registry, transport);
      const res = await rt({ method: 'GET', url: new URL('/v2/', base), signal: ctx.signal });
      if (res.status !== 200) throw await registryError(res, { registry });
      await res.discard();
    },
  });
  ctx.stdout.write(`Login Succeeded for ${registry}\n`);
  return 0;
};

export const logoutHelp = `Usage: gantry logout REGISTRY

Remove the stored credential of a registry.
`;

export const logout: Command = async (args, ctx) => {
  const p = parse('logout', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, logoutHelp);
  const [registryArg, ...extra] = p.positionals;
  if (!registryArg || extra.length > 0)
    throw usageError('gantry logout takes one registry', 'run gantry logout REGISTRY');
  const registry = normalizeRegistry(registryArg);
  const removed = await removeCredential(registry);
  ctx.stdout.write(removed ? `Removed login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  return 0;
};

/** `https://ghcr.io/` or `ghcr.io` -> `ghcr.io`; docker.io's aliases -> `docker.io`. */
function normalizeRegistry(value: string): string {
  const host = value.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  const ref = parseReference(`${host}/x`);
  return ref.registry;
}
