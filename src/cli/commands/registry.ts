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
import { renderHelp } from '../flags.js';
import { giteaCatalog, giteaCluster, giteaDeleteFallback } from '../idpbuilder.js';
import {
  catalogSpec,
  copySpec,
  deleteSpec,
  digestSpec,
  inspectSpec,
  loginSpec,
  logoutSpec,
  pullSpec,
  pushSpec,
  tagsSpec,
} from '../specs/registry.js';

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

export const pushHelp = renderHelp(pushSpec);

export const push: Command = async (args, ctx) => {
  const p = parse(pushSpec, args);
  if (flag(p, 'help')) return help(ctx, pushHelp);
  const [name, dest, ...extra] = p.positionals;
  if (!name || extra.length > 0)
    throw usageError('gantry push takes NAME [DEST]', 'run gantry push NAME [REGISTRY/REPO:TAG]');
  const platform = str(p, 'platform');
  return transfer(ctx, (common) => pushImage(name, dest, { ...common, platform }));
};

export const pullHelp = renderHelp(pullSpec);

export const pull: Command = async (args, ctx) => {
  const p = parse(pullSpec, args);
  if (flag(p, 'help')) return help(ctx, pullHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry pull takes one image reference', 'run gantry pull REF');
  const options = { platform: str(p, 'platform'), allPlatforms: flag(p, 'all-platforms') };
  return transfer(ctx, async (common) => {
    const pulled = await pullImage(input, { ...common, ...options });
    return { destination: pulled.reference, digest: pulled.digest };
  });
};

export const copyHelp = renderHelp(copySpec);

export const copy: Command = async (args, ctx) => {
  const p = parse(copySpec, args);
  if (flag(p, 'help')) return help(ctx, copyHelp);
  const [srcArg, dstArg, ...extra] = p.positionals;
  if (!srcArg || !dstArg || extra.length > 0)
    throw usageError('gantry copy takes SRC and DST', 'run gantry copy SRC DST');
  const platform = str(p, 'platform');
  return transfer(ctx, (common) => copyImage(srcArg, dstArg, { ...common, platform }));
};

export const inspectHelp = renderHelp(inspectSpec);

export const inspect: Command = async (args, ctx) => {
  const p = parse(inspectSpec, args);
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

export const digestHelp = renderHelp(digestSpec);

export const digest: Command = async (args, ctx) => {
  const p = parse(digestSpec, args);
  if (flag(p, 'help')) return help(ctx, digestHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry digest takes one image', 'run gantry digest REF');
  const d = await digestOf(input, { session: ctx.session, signal: ctx.signal, platform: str(p, 'platform') });
  ctx.stdout.write(`${d}\n`);
  return 0;
};

export const tagsHelp = renderHelp(tagsSpec);

export const tags: Command = async (args, ctx) => {
  const p = parse(tagsSpec, args);
  if (flag(p, 'help')) return help(ctx, tagsHelp);
  const [input, ...extra] = p.positionals;
  if (!input || extra.length > 0) throw usageError('gantry tags takes one repository', 'run gantry tags REGISTRY/REPO');
  for (const tag of await listTags(input, { session: ctx.session, signal: ctx.signal, all: flag(p, 'all') }))
    ctx.stdout.write(`${tag}\n`);
  return 0;
};

export const catalogHelp = renderHelp(catalogSpec);

export const catalog: Command = async (args, ctx) => {
  const p = parse(catalogSpec, args);
  if (flag(p, 'help')) return help(ctx, catalogHelp);
  const [registry, ...extra] = p.positionals;
  const idp = flag(p, 'idpbuilder');
  if (idp ? registry !== undefined : !registry || extra.length > 0)
    throw usageError('gantry catalog takes one registry, or --idpbuilder', 'run gantry catalog HOST[:PORT]');
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw usageError(`invalid --format ${format}`, 'use table or json');
  const gitea = await giteaCluster(idp ? undefined : registry, ctx);
  if (gitea) {
    await giteaCatalog(gitea, format === 'json', ctx, flag(p, 'all'));
    return 0;
  }
  const repos = await listCatalog(registry as string, { session: ctx.session, signal: ctx.signal });
  if (format === 'json') ctx.stdout.write(`${JSON.stringify(repos, null, 2)}\n`);
  else for (const repo of repos) ctx.stdout.write(`${repo}\n`);
  return 0;
};

export const deleteHelp = renderHelp(deleteSpec);

export const del: Command = async (args, ctx) => {
  const p = parse(deleteSpec, args);
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

export const loginHelp = renderHelp(loginSpec);

export const login: Command = async (args, ctx) => {
  const p = parse(loginSpec, args);
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

export const logoutHelp = renderHelp(logoutSpec);

export const logout: Command = async (args, ctx) => {
  const p = parse(logoutSpec, args);
  if (flag(p, 'help')) return help(ctx, logoutHelp);
  const [registryArg, ...extra] = p.positionals;
  if (!registryArg || extra.length > 0)
    throw usageError('gantry logout takes one registry', 'run gantry logout REGISTRY');
  const { registry, removed } = await logoutFrom(registryArg, { signal: ctx.signal });
  ctx.stdout.write(removed ? `Removed login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  return 0;
};
