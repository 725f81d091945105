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
import { createRenderer } from '../progress.js';

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

export const appendHelp = `Usage: gantry append [OPTIONS] -f DIR_OR_TAR -t REF

Add a layer (a directory, or a tar: plain, gzip or zstd) on top of a remote base image and push
it, as crane append does. The base's layers are not downloaded: the registry already has them,
or mounts them from the base's repository. Prints REF@DIGEST.

Options:
  -b, --base REF            the base image (default: scratch)
  -f, --new_layer PATH      a directory or tar for the new layer (repeat for several layers)
  -t, --new_tag REF         where to push: a full reference, or a tag of the base's repository
  -o, --output FILE         write a docker-archive tarball instead of pushing (downloads the base)
      --platform P          the platform of a multi-platform base, or of scratch (default: this machine's)
  -h, --help
`;

export const append: Command = async (args, ctx) => {
  const p = parse('append', args, {
    base: { type: 'string', short: 'b' },
    new_layer: { type: 'string', short: 'f', multiple: true },
    'new-layer': { type: 'string', multiple: true },
    new_tag: { type: 'string', short: 't' },
    'new-tag': { type: 'string' },
    output: { type: 'string', short: 'o' },
    platform: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
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

export const mutateHelp = `Usage: gantry mutate [OPTIONS] REF

Change the config or annotations of a remote image and push it, as crane mutate does. Only the
config and manifest are written; the layers stay where they are. Without -t the result is
pushed by digest to REF's repository. On a multi-platform index only -a applies. Prints REF@DIGEST.

Options:
  -t, --tag REF             where to push: a tag of the same repository or a full reference
      --entrypoint A,B      the entrypoint (comma-separated, repeatable, or one JSON array)
      --cmd A,B             the default arguments (same forms)
  -e, --env KEY=VALUE       set an environment variable (repeatable)
  -l, --label KEY=VALUE     set a config label (repeatable)
  -a, --annotation K=V      set a manifest (or index) annotation (repeatable)
      --user USER           the user (crane's -u is gantry's global --username)
  -w, --workdir DIR         the working directory
      --exposed-ports P,Q   the exposed ports, replacing the image's (8080, 53/udp)
      --set-platform P      a new platform in the config (os/arch[/variant])
  -h, --help
`;

export const mutate: Command = async (args, ctx) => {
  const p = parse('mutate', args, {
    tag: { type: 'string', short: 't' },
    entrypoint: { type: 'string', multiple: true },
    cmd: { type: 'string', multiple: true },
    env: { type: 'string', short: 'e', multiple: true },
    label: { type: 'string', short: 'l', multiple: true },
    annotation: { type: 'string', short: 'a', multiple: true },
    user: { type: 'string' },
    workdir: { type: 'string', short: 'w' },
    'exposed-ports': { type: 'string', multiple: true },
    'set-platform': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
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

export const flattenHelp = `Usage: gantry flatten [OPTIONS] REF

Squash an image into one layer and push it, as crane flatten does (every platform of an index).
Without -t the result is pushed by digest to REF's repository. Prints REF@DIGEST.

Options:
  -t, --tag REF             where to push: a tag of the same repository or a full reference
  -h, --help
`;

export const flatten: Command = async (args, ctx) => {
  const p = parse('flatten', args, { tag: { type: 'string', short: 't' }, help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, flattenHelp);
  const [ref, ...extra] = p.positionals;
  if (!ref || extra.length > 0) throw usageError('gantry flatten takes one image', 'run gantry flatten REF -t TAG');
  return pushed(ctx, (common) => flattenImage(ref, { ...common, tag: str(p, 'tag') }));
};

export const rebaseHelp = `Usage: gantry rebase [OPTIONS] --old-base REF --new-base REF IMAGE

Put an image on another base, as crane rebase does: its first layers must be exactly those of
the old base; they are replaced by the new base's. Without --old-base and --new-base, the
bases are those the image's org.opencontainers.image.base.name and base.digest annotations name
(the old base at that digest, the new one as the name resolves now), as crane does. Only the manifest and config are written (the
new base's layers are mounted, nothing is downloaded). Without -t the result is pushed by digest
to IMAGE's repository. Prints REF@DIGEST.

Options:
      --original REF        the image to rebase (instead of the IMAGE argument)
      --old-base REF        the base it was built on (also --old_base)
      --new-base REF        the base to put under it (also --new_base)
  -t, --tag REF             where to push: a tag of the same repository or a full reference
                            (also --rebased)
  -h, --help
`;

export const rebase: Command = async (args, ctx) => {
  const p = parse('rebase', args, {
    original: { type: 'string' },
    old_base: { type: 'string' },
    'old-base': { type: 'string' },
    new_base: { type: 'string' },
    'new-base': { type: 'string' },
    tag: { type: 'string', short: 't' },
    rebased: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
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

export const tagHelp = `Usage: gantry tag REF NEWTAG

Tag the manifest REF names with NEWTAG in the same repository, as crane tag does: only the
manifest is written again, no blob moves. Prints REGISTRY/REPO:NEWTAG@DIGEST.
`;

export const tag: Command = async (args, ctx) => {
  const p = parse('tag', args, { help: { type: 'boolean', short: 'h' } });
  if (flag(p, 'help')) return help(ctx, tagHelp);
  const [ref, newTag, ...extra] = p.positionals;
  if (!ref || !newTag || extra.length > 0)
    throw usageError('gantry tag takes REF and NEWTAG', 'run gantry tag REF NEWTAG');
  return pushed(ctx, (common): Promise<Pushed> => tagImage(ref, newTag, common));
};
