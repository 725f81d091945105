/** Store commands: `images`, `rmi`, `prune`, `load`, over the library's store functions. */
import { images as listImages, load as loadImages, prune as pruneStore, rmi as removeImages } from '../../api/store.js';
import { parseReference } from '../../reference/index.js';
import { flag, list, parse, str } from '../args.js';
import { type Command, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { formatBytes } from '../progress.js';
import { imagesSpec, loadSpec, pruneSpec, rmiSpec } from '../specs/store.js';

export const imagesHelp = renderHelp(imagesSpec);

function splitName(name: string | undefined): { repo: string; tag: string } {
  if (name === undefined) return { repo: '<none>', tag: '<none>' };
  const ref = parseReference(name);
  const registry = ref.registry === 'docker.io' ? '' : `${ref.registry}/`;
  const repo = ref.registry === 'docker.io' ? ref.repository.replace(/^library\//, '') : ref.repository;
  return { repo: `${registry}${repo}`, tag: ref.tag ?? '<none>' };
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   '))
    .join('\n');
}

export const images: Command = async (args, ctx) => {
  const p = parse(imagesSpec, args);
  if (flag(p, 'help')) {
    ctx.stdout.write(imagesHelp);
    return 0;
  }
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw usageError(`invalid --format ${format}`, 'use table or json');
  const summaries = await listImages({ session: ctx.session, signal: ctx.signal });
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
    return 0;
  }
  const rows = [['REPOSITORY', 'TAG', 'DIGEST', 'PLATFORMS', 'SIZE']];
  for (const s of summaries) {
    const { repo, tag } = splitName(s.name);
    const digest = flag(p, 'digests') ? s.digest : s.digest.replace(/^sha256:/, '').slice(0, 12);
    rows.push([repo, tag, digest, s.platforms.join(',') || '-', formatBytes(s.size)]);
  }
  ctx.stdout.write(`${table(rows)}\n`);
  return 0;
};

export const rmiHelp = renderHelp(rmiSpec);

export const rmi: Command = async (args, ctx) => {
  const p = parse(rmiSpec, args);
  if (flag(p, 'help')) {
    ctx.stdout.write(rmiHelp);
    return 0;
  }
  if (p.positionals.length === 0) throw usageError('gantry rmi needs an image name or digest', 'run gantry rmi NAME');
  for (const target of p.positionals) {
    const removed = await removeImages(target, { session: ctx.session, signal: ctx.signal });
    for (const r of removed) ctx.stdout.write(`Untagged: ${r.name ?? r.descriptor.digest}\n`);
  }
  return 0;
};

export const pruneHelp = renderHelp(pruneSpec);

export const prune: Command = async (args, ctx) => {
  const p = parse(pruneSpec, args);
  if (flag(p, 'help')) {
    ctx.stdout.write(pruneHelp);
    return 0;
  }
  if (p.positionals.length > 0) throw usageError('gantry prune takes no arguments', 'run gantry prune');
  const { blobs, bytes } = await pruneStore({
    session: ctx.session,
    signal: ctx.signal,
    buildCache: flag(p, 'build-cache'),
  });
  ctx.stdout.write(`Deleted ${blobs} blob${blobs === 1 ? '' : 's'}\nTotal reclaimed space: ${formatBytes(bytes)}\n`);
  return 0;
};

export const loadHelp = renderHelp(loadSpec);

export const load: Command = async (args, ctx) => {
  const p = parse(loadSpec, args);
  if (flag(p, 'help')) {
    ctx.stdout.write(loadHelp);
    return 0;
  }
  const source = str(p, 'input') ?? p.positionals[0];
  if (!source || p.positionals.length > (str(p, 'input') ? 0 : 1)) {
    throw usageError('gantry load takes one file or directory', 'run gantry load FILE');
  }
  const loaded = await loadImages(source, { session: ctx.session, signal: ctx.signal, tags: list(p, 'tag') });
  for (const item of loaded) {
    if (item.names.length === 0) ctx.stdout.write(`Loaded image: ${item.descriptor.digest}\n`);
    for (const name of item.names) ctx.stdout.write(`Loaded image: ${name}\n`);
  }
  return 0;
};
