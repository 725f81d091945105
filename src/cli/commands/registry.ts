/**
 * Registry commands: push, pull, copy, inspect, digest, tags, catalog, delete, login, logout.
 * Each parses its flags, calls the library (src/api) and prints the result.
 */

import { login as loginTo, logout as logoutFrom } from '../../api/auth.js';
import {
  deleteImage,
  digest as digestOf,
  imageConfig,
  inspect as inspectImage,
  catalog as listCatalog,
  tags as listTags,
  rawManifest,
} from '../../api/inspect.js';
import type { CommonOptions } from '../../api/session.js';
import { copy as copyImage, pull as pullImage, push as pushImage } from '../../api/transfer.js';
import { flag, parse, str } from '../args.js';
import { type Command, type CommandContext, usageError } from '../context.js';
import { giteaCatalog, giteaCluster, giteaDeleteFallback } from '../idpbuilder.js';

function help(ctx: CommandContext, text: string): number {
  ctx.stdout.write(text);
  return 0;
}

/** Runs a transfer with a progress renderer and prints where the image went, with its digest. */
async function transfer(
  ctx: CommandContext,
  fn: (common: CommonOptions) => Promise<{ destination: string; digest: string }>,
): Promise<number> {
  const renderer = ctx.renderer();
  try {
    const done = await fn({ session: ctx.session, signal: ctx.signal, progress: renderer.sink });
    renderer.close();
    ctx.stdout.write(`${done.destination}@${done.digest}\n`);
    ctx.report({ digest: done.digest, references: [`${done.destination}@${done.digest}`] });
    return 0;
  } finally {
    renderer.close();
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
  const platform = str(p, 'platform');
  return transfer(ctx, (common) => pushImage(name, dest, { ...common, platform }));
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
  const options = { platform: str(p, 'platform'), allPlatforms: flag(p, 'all-platforms') };
  return transfer(ctx, async (common) => {
    const pulled = await pullImage(input, { ...common, ...options });
    return { destination: pulled.reference, digest: pulled.digest };
  });
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
  const platform = str(p, 'platform');
  return transfer(ctx, (common) => copyImage(srcArg, dstArg, { ...common, platform }));
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
  const options = { session: ctx.session, signal: ctx.signal, platform: str(p, 'platform') };
  if (flag(p, 'raw')) ctx.stdout.write(await rawManifest(input, options));
  else if (flag(p, 'config')) ctx.stdout.write(`${JSON.stringify(await imageConfig(input, options), null, 2)}\n`);
  else ctx.stdout.write(`${JSON.stringify(await inspectImage(input, options), null, 2)}\n`);
  return 0;
};

export const digestHelp = `Usage: gantry digest REF

Print the digest of an image's manifest (or index).
`;

export const digest: Command = async (args, ctx) => {
  const p = parse('digest', args, { platform: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, digestHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry digest takes one image', 'run gantry digest REF');
  const d = await digestOf(input, { session: ctx.session, signal: ctx.signal, platform: str(p, 'platform') });
  ctx.stdout.write(`${d}\n`);
  return 0;
};

export const tagsHelp = `Usage: gantry tags REPO

List the tags of a repository (every page).
`;

export const tags: Command = async (args, ctx) => {
  const p = parse('tags', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, tagsHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry tags takes one repository', 'run gantry tags REGISTRY/REPO');
  for (const tag of await listTags(input, { session: ctx.session, signal: ctx.signal })) ctx.stdout.write(`${tag}\n`);
  return 0;
};

export const catalogHelp = `Usage: gantry catalog REGISTRY
       gantry catalog --idpbuilder

List the repositories of a registry (every page). On the Gitea of an idpbuilder cluster (with
--idpbuilder, or REGISTRY being that Gitea), list the admin's container packages instead: name,
tag and creation time, through Gitea's packages API.

Options:
      --idpbuilder     the Gitea of the idpbuilder cluster of the kubeconfig (see --kube-context)
      --format FORMAT  table (default) or json
`;

export const catalog: Command = async (args, ctx) => {
  const p = parse('catalog', args, {
    help: { type: 'boolean', short: 'h' },
    idpbuilder: { type: 'boolean' },
    format: { type: 'string' },
  });
  if (flag(p, 'help')) return help(ctx, catalogHelp);
  const [registry, ...extra] = p.positionals;
  const idp = flag(p, 'idpbuilder');
  if (idp ? registry !== undefined : !registry || extra.length > 0)
    throw usageError('gantry catalog takes one registry, or --idpbuilder', 'run gantry catalog HOST[:PORT]');
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw usageError(`invalid --format ${format}`, 'use table or json');
  const gitea = await giteaCluster(idp ? undefined : registry, ctx);
  if (gitea) {
    await giteaCatalog(gitea, format === 'json', ctx);
    return 0;
  }
  const repos = await listCatalog(registry as string, { session: ctx.session, signal: ctx.signal });
  if (format === 'json') ctx.stdout.write(`${JSON.stringify(repos, null, 2)}\n`);
  else for (const repo of repos) ctx.stdout.write(`${repo}\n`);
  return 0;
};

export const deleteHelp = `Usage: gantry delete [--force-tag-dereference] REF

Delete a manifest from a registry (a tag is resolved to its digest first). Deleting a manifest
deletes every tag that names it, so a tag whose manifest other tags share is refused, naming
them, unless --force-tag-dereference is given (as regctl manifest delete; crane delete does not
ask). On the Gitea of an idpbuilder cluster whose registry refuses manifest deletion, the package
version is deleted through Gitea's packages API instead.

Options:
      --force-tag-dereference  delete the manifest even when other tags name it (they go too)
`;

export const del: Command = async (args, ctx) => {
  const p = parse('delete', args, {
    'force-tag-dereference': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) return help(ctx, deleteHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry delete takes one image reference', 'run gantry delete REF');
  const options = { session: ctx.session, signal: ctx.signal, forceTagDereference: flag(p, 'force-tag-dereference') };
  const deleted = await deleteImage(input, options).catch(async (err: unknown) => {
    const fellBack = await giteaDeleteFallback(err, input, ctx);
    if (fellBack === undefined) throw err;
    return fellBack;
  });
  ctx.stdout.write(`Deleted ${deleted}\n`);
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
  const done = await loginTo(registryArg, {
    session: ctx.session,
    signal: ctx.signal,
    username: ctx.flags.username,
    password,
  });
  ctx.stdout.write(`Login Succeeded for ${done.registry}\n`);
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
  const { registry, removed } = await logoutFrom(registryArg, { signal: ctx.signal });
  ctx.stdout.write(removed ? `Removed login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  return 0;
};
