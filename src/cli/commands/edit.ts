/**
 * The crane-style verbs that write a new image over the registry: append, mutate, flatten,
 * rebase, tag. Flags are named as crane names them (with kebab-case aliases where crane uses
 * underscores). Each prints what it pushed as REF@DIGEST on stdout; progress goes to stderr.
 */
import { append as appendLayers } from '../../api/append.js';
import type { Pushed } from '../../api/edit.js';
import { flatten as flattenImage } from '../../api/flatten.js';
import { mutate as mutateImage } from '../../api/mutate.js';
import { rebase as rebaseImage } from '../../api/rebase.js';
import type { CommonOptions } from '../../api/session.js';
import { tag as tagImage } from '../../api/tag.js';
import { flag, keyValues, list, type Parsed, parse, str } from '../args.js';
import { type Command, type CommandContext, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { createRenderer } from '../progress.js';
import { appendSpec, flattenSpec, mutateSpec, rebaseSpec, tagSpec } from '../specs/crane.js';

function help(ctx: CommandContext, text: string): number {
  ctx.stdout.write(text);
  return 0;
}

/** Runs a verb with a progress renderer and prints the reference it wrote with its digest. */
export async function pushed(
  ctx: CommandContext,
  fn: (common: CommonOptions) => Promise<{ reference: string; digest: string }>,
): Promise<number> {
  const renderer = createRenderer(ctx.flags.progress, ctx.stderr);
  try {
    const done = await fn({ session: ctx.session, signal: ctx.signal, progress: renderer.sink });
    renderer.close();
    ctx.stdout.write(`${done.reference}@${done.digest}\n`);
    return 0;
  } finally {
    renderer.close();
  }
}

/** A string flag given under either of two names (crane's `--new_tag` and `--new-tag`). */
function either(p: Parsed, a: string, b: string): string | undefined {
  const x = str(p, a);
  const y = str(p, b);
  if (x !== undefined && y !== undefined && x !== y) {
    throw usageError(`--${a} and --${b} are the same flag, given twice`, `give --${a} once`);
  }
  return x ?? y;
}

/** crane's string-slice flags: repeatable, each value split on commas; or one JSON array. */
function words(p: Parsed, key: string): string[] | undefined {
  const values = list(p, key);
  if (values.length === 0) return undefined;
  if (values.length === 1 && values[0]?.trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values[0]);
    } catch {
      throw usageError(`--${key} is not valid JSON: ${values[0]}`, 'give a JSON array like ["sh","-c"] or a,b,c');
    }
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) {
      throw usageError(`--${key} must be a JSON array of strings`, 'give a JSON array like ["sh","-c"]');
    }
    return parsed;
  }
  return values.flatMap((v) => v.split(','));
}

export const appendHelp = renderHelp(appendSpec);

export const append: Command = async (args, ctx) => {
  const p = parse(appendSpec, args);
  if (flag(p, 'help')) return help(ctx, appendHelp);
  if (p.positionals.length > 0) {
    throw usageError(`gantry append takes no argument (got ${p.positionals[0]})`, 'give the layer with -f PATH');
  }
  const layers = [...list(p, 'new_layer'), ...list(p, 'new-layer')];
  if (layers.length === 0) throw usageError('gantry append needs a layer', 'give -f DIR_OR_TAR');
  const tag = either(p, 'new_tag', 'new-tag');
  const output = str(p, 'output');
  if (tag === undefined && output === undefined) {
    throw usageError(
      'gantry append needs -t REF or -o FILE',
      'give -t REF to push the image, or -o FILE for a tarball',
    );
  }
  // A tarball prints FILE@DIGEST (the digest of the image in it), a push REF@DIGEST.
  return pushed(ctx, async (common) => {
    const done = await appendLayers(layers, {
      ...common,
      base: str(p, 'base'),
      tag,
      output,
      platform: str(p, 'platform'),
    });
    return { reference: done.destination, digest: done.digest };
  });
};

export const mutateHelp = renderHelp(mutateSpec);

export const mutate: Command = async (args, ctx) => {
  const p = parse(mutateSpec, args);
  if (flag(p, 'help')) return help(ctx, mutateHelp);
  const [ref, ...extra] = p.positionals;
  if (!ref || extra.length > 0) throw usageError('gantry mutate takes one image', 'run gantry mutate REF [OPTIONS]');
  const options = {
    tag: str(p, 'tag'),
    entrypoint: words(p, 'entrypoint'),
    cmd: words(p, 'cmd'),
    env: keyValues(list(p, 'env'), '--env'),
    labels: keyValues(list(p, 'label'), '--label'),
    annotations: keyValues(list(p, 'annotation'), '--annotation'),
    user: str(p, 'user'),
    workdir: str(p, 'workdir'),
    exposedPorts: words(p, 'exposed-ports'),
    platform: str(p, 'set-platform'),
  };
  return pushed(ctx, (common) => mutateImage(ref, { ...common, ...options }));
};

export const flattenHelp = renderHelp(flattenSpec);

export const flatten: Command = async (args, ctx) => {
  const p = parse(flattenSpec, args);
  if (flag(p, 'help')) return help(ctx, flattenHelp);
  const [ref, ...extra] = p.positionals;
  if (!ref || extra.length > 0) throw usageError('gantry flatten takes one image', 'run gantry flatten REF -t TAG');
  return pushed(ctx, (common) => flattenImage(ref, { ...common, tag: str(p, 'tag') }));
};

export const rebaseHelp = renderHelp(rebaseSpec);

export const rebase: Command = async (args, ctx) => {
  const p = parse(rebaseSpec, args);
  if (flag(p, 'help')) return help(ctx, rebaseHelp);
  const [positional, ...extra] = p.positionals;
  const original = str(p, 'original');
  if (extra.length > 0 || (positional !== undefined && original !== undefined)) {
    throw usageError('gantry rebase takes one image', 'give IMAGE or --original IMAGE, not both');
  }
  const image = positional ?? original;
  const oldBase = either(p, 'old-base', 'old_base');
  const newBase = either(p, 'new-base', 'new_base');
  if (!image) throw usageError('gantry rebase needs an image', 'run gantry rebase IMAGE --old-base REF --new-base REF');
  const tag = either(p, 'tag', 'rebased');
  return pushed(ctx, (common) => rebaseImage(image, { ...common, oldBase, newBase, tag }));
};

export const tagHelp = renderHelp(tagSpec);

export const tag: Command = async (args, ctx) => {
  const p = parse(tagSpec, args);
  if (flag(p, 'help')) return help(ctx, tagHelp);
  const [ref, newTag, ...extra] = p.positionals;
  if (!ref || !newTag || extra.length > 0)
    throw usageError('gantry tag takes REF and NEWTAG', 'run gantry tag REF NEWTAG');
  return pushed(ctx, (common): Promise<Pushed> => tagImage(ref, newTag, common));
};
