/**
 * The crane-style verbs that read an image's content or assemble indexes: export, blob,
 * validate, index create|append. Binary output (export, blob) goes to stdout only when stdout is
 * not a terminal.
 */
import { exportFilesystem } from '../../api/export.js';
import { indexAppend, indexCreate } from '../../api/image-index.js';
import { blob as readBlob } from '../../api/tag.js';
import { validate as validateImage } from '../../api/validate.js';
import { GantryError } from '../../errors.js';
import { flag, list, parse, str } from '../args.js';
import { type Command, type CommandContext, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { createRenderer } from '../progress.js';
import { blobSpec, exportSpec, indexSpec, validateSpec } from '../specs/crane.js';
import { pushed } from './edit.js';

function help(ctx: CommandContext, text: string): number {
  ctx.stdout.write(text);
  return 0;
}

function refuseTerminal(ctx: CommandContext, what: string, suggestion: string): void {
  if (ctx.stdout.isTTY) throw usageError(`refusing to write ${what} to a terminal`, suggestion);
}

export const exportHelp = renderHelp(exportSpec);

export const exportCommand: Command = async (args, ctx) => {
  const p = parse(exportSpec, args);
  if (flag(p, 'help')) return help(ctx, exportHelp);
  const [image, dest = '-', ...extra] = p.positionals;
  if (!image || extra.length > 0)
    throw usageError('gantry export takes IMAGE [FILE|-]', 'run gantry export IMAGE out.tar');
  if (dest === '-') refuseTerminal(ctx, 'a tar', 'redirect stdout (gantry export IMAGE - > fs.tar) or give a file');
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  try {
    const common = { session: ctx.session, signal: ctx.signal, progress: renderer.sink, platform: str(p, 'platform') };
    await exportFilesystem(image, dest === '-' ? ctx.stdout : dest, common);
    return 0;
  } finally {
    renderer.close();
  }
};

export const blobHelp = renderHelp(blobSpec);

export const blob: Command = async (args, ctx) => {
  const p = parse(blobSpec, args);
  if (flag(p, 'help')) return help(ctx, blobHelp);
  const [ref, ...extra] = p.positionals;
  if (!ref || extra.length > 0) throw usageError('gantry blob takes one REPO@DIGEST', 'run gantry blob REPO@sha256:…');
  refuseTerminal(ctx, 'a blob', 'redirect stdout to a file (gantry blob REPO@DIGEST > blob)');
  await readBlob(ref, ctx.stdout, { session: ctx.session, signal: ctx.signal });
  return 0;
};

export const validateHelp = renderHelp(validateSpec);

export const validate: Command = async (args, ctx) => {
  const p = parse(validateSpec, args);
  if (flag(p, 'help')) return help(ctx, validateHelp);
  const [positional, ...extra] = p.positionals;
  const remote = str(p, 'remote');
  const image = positional ?? remote;
  if (!image || extra.length > 0 || (positional !== undefined && remote !== undefined)) {
    throw usageError('gantry validate takes one image', 'run gantry validate REF (or --remote REF)');
  }
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  try {
    const result = await validateImage(image, {
      session: ctx.session,
      signal: ctx.signal,
      progress: renderer.sink,
      fast: flag(p, 'fast'),
    });
    renderer.close();
    for (const bad of result.problems) ctx.stdout.write(`FAIL: ${bad.what} ${bad.digest}: ${bad.message}\n`);
    const first = result.problems[0];
    if (first !== undefined) {
      throw new GantryError(
        'IMAGE_INVALID',
        `${result.name}: ${result.problems.length} of ${result.checked} manifests and blobs failed (first: ${first.what} ${first.digest})`,
        { phase: 'resolve', suggestion: 're-push the image from a good copy' },
      );
    }
    ctx.stdout.write(`PASS: ${result.name}@${result.digest} (${result.checked} manifests and blobs)\n`);
    return 0;
  } finally {
    renderer.close();
  }
};

export const indexHelp = renderHelp(indexSpec);

export const index: Command = async (args, ctx) => {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    if (sub === undefined) throw usageError('gantry index needs create or append', 'run gantry index --help');
    return help(ctx, indexHelp);
  }
  if (sub !== 'create' && sub !== 'append') {
    throw usageError(`unknown index command ${JSON.stringify(sub)}`, 'use gantry index create or gantry index append');
  }
  const p = parse(indexSpec, rest, `index ${sub}`);
  if (flag(p, 'help')) return help(ctx, indexHelp);
  if (p.positionals.length > 0) {
    throw usageError(`gantry index ${sub} takes no argument (got ${p.positionals[0]})`, 'give images with -m REF');
  }
  const manifests = list(p, 'manifest');
  if (manifests.length === 0) throw usageError(`gantry index ${sub} needs -m REF`, 'give -m REF once per image');
  if (sub === 'create') {
    const target = str(p, 'tag');
    if (!target) throw usageError('gantry index create needs -t REF', 'give the index to push with -t REF');
    if (str(p, 'base') !== undefined) throw usageError('--base is for index append', 'use gantry index append -b REF');
    if (flag(p, 'docker') && flag(p, 'oci')) throw usageError('--docker and --oci exclude each other', 'give one');
    const mediaType = flag(p, 'docker') ? 'docker' : flag(p, 'oci') ? 'oci' : undefined;
    return pushed(ctx, (common) => indexCreate(target, { ...common, manifests, ...(mediaType ? { mediaType } : {}) }));
  }
  const base = str(p, 'base');
  if (!base) throw usageError('gantry index append needs -b REF', 'give the index to add to with -b REF');
  if (flag(p, 'docker') || flag(p, 'oci')) {
    throw usageError('--docker and --oci are for index create', 'an appended index keeps its media type');
  }
  return pushed(ctx, (common) => indexAppend(base, { ...common, manifests, tag: str(p, 'tag') }));
};
