/**
 * Supply-chain commands: sbom, referrers (also `discover`, as oras names it), sign, verify, scan.
 * Each parses its flags, calls the library (src/api) and prints the result.
 */
import { type ScannerKind, scan as scanImage } from '../../api/scan.js';
import {
  referrers as listReferrers,
  sbom as sbomOf,
  sign as signImage,
  verify as verifyImage,
} from '../../api/supply.js';
import type { SbomFormat } from '../../sbom/index.js';
import { flag, parse, str } from '../args.js';
import { type Command, type CommandContext, usageError } from '../context.js';
import { renderHelp } from '../flags.js';
import { referrersSpec, sbomSpec, scanSpec, signSpec, verifySpec } from '../specs/supply.js';

function help(ctx: CommandContext, text: string): number {
  ctx.stdout.write(text);
  return 0;
}

function common(ctx: CommandContext) {
  return { session: ctx.session, signal: ctx.signal };
}

function oneImage(verb: string, positionals: readonly string[]): string {
  const [image, ...extra] = positionals;
  if (!image || extra.length > 0) throw usageError(`gantry ${verb} takes one IMAGE`, `run gantry ${verb} --help`);
  return image;
}

function sbomFormat(value: string | undefined): SbomFormat | undefined {
  if (value === undefined) return undefined;
  if (value !== 'cyclonedx' && value !== 'spdx') throw usageError(`invalid --format ${value}`, 'use cyclonedx or spdx');
  return value;
}

export const sbomHelp = renderHelp(sbomSpec);

export const sbom: Command = async (args, ctx) => {
  const p = parse(sbomSpec, args);
  if (flag(p, 'help')) return help(ctx, sbomHelp);
  const image = oneImage('sbom', p.positionals);
  const format = sbomFormat(str(p, 'format'));
  const platform = str(p, 'platform');
  const doc = await sbomOf(image, {
    ...common(ctx),
    ...(format ? { format } : {}),
    ...(platform ? { platform } : {}),
    generate: flag(p, 'generate'),
  });
  const out = str(p, 'output');
  if (out) {
    const { writeFileAtomic } = await import('../../util/fs.js');
    await writeFileAtomic(out, doc.bytes, { signal: ctx.signal });
  } else ctx.stdout.write(doc.bytes);
  return 0;
};

export const referrersHelp = renderHelp(referrersSpec);

export const referrers: Command = async (args, ctx) => {
  const p = parse(referrersSpec, args);
  if (flag(p, 'help')) return help(ctx, referrersHelp);
  const image = oneImage('referrers', p.positionals);
  const artifactType = str(p, 'artifact-type');
  const list = await listReferrers(image, { ...common(ctx), ...(artifactType ? { artifactType } : {}) });
  if (flag(p, 'json')) ctx.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  else for (const r of list) ctx.stdout.write(`${r.subject}  ${r.artifactType ?? r.mediaType}  ${r.digest}\n`);
  return 0;
};

export const signHelp = renderHelp(signSpec);

export const sign: Command = async (args, ctx) => {
  const p = parse(signSpec, args);
  if (flag(p, 'help')) return help(ctx, signHelp);
  const image = oneImage('sign', p.positionals);
  const key = str(p, 'key');
  if (!key) throw usageError('gantry sign needs --key', 'give --key cosign.key or --key env://VAR');
  const form = str(p, 'form');
  if (form !== undefined && form !== 'tag' && form !== 'referrer' && form !== 'both' && form !== 'bundle')
    throw usageError(`invalid --form ${form}`, 'use tag, referrer, both or bundle');
  const done = await signImage(image, { ...common(ctx), key, ...(form ? { form } : {}) });
  ctx.stdout.write(`${done.reference}@${done.digest}\n`);
  return 0;
};

export const verifyHelp = renderHelp(verifySpec);

export const verify: Command = async (args, ctx) => {
  const p = parse(verifySpec, args);
  if (flag(p, 'help')) return help(ctx, verifyHelp);
  const image = oneImage('verify', p.positionals);
  const key = str(p, 'key');
  if (!key) throw usageError('gantry verify needs --key', 'give --key cosign.pub or --key env://VAR');
  const done = await verifyImage(image, { ...common(ctx), key });
  const sources = [...new Set(done.signatures.map((s) => s.source))].join(', ');
  ctx.stderr.write(`verified ${done.signatures.length} signature(s) (${sources})\n`);
  ctx.stdout.write(`${done.reference}@${done.digest}\n`);
  return 0;
};

export const scanHelp = renderHelp(scanSpec);

export const scan: Command = async (args, ctx) => {
  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  const extra = dash === -1 ? [] : args.slice(dash + 1);
  const p = parse(scanSpec, own);
  if (flag(p, 'help')) return help(ctx, scanHelp);
  const image = oneImage('scan', p.positionals);
  const input = str(p, 'input');
  if (input !== undefined && input !== 'sbom' && input !== 'layout')
    throw usageError(`invalid --input ${input}`, 'use sbom or layout');
  const scanner = str(p, 'scanner');
  const platform = str(p, 'platform');
  const result: { exitCode: number; scanner: ScannerKind } = await scanImage(image, {
    ...common(ctx),
    ...(scanner ? { scanner } : {}),
    ...(input ? { input } : {}),
    ...(platform ? { platform } : {}),
    args: extra,
    stdout: ctx.stdout,
    stderr: ctx.stderr,
  });
  return result.exitCode;
};
