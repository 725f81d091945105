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

export const sbomHelp = `Usage: gantry sbom [OPTIONS] IMAGE

Print the SBOM of an image: the one pushed with it (a referrer) when there is one, else one made
now from the image's package databases (dpkg, apk, Python, npm). IMAGE is a registry reference,
store:NAME, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE.

Options:
      --format F       cyclonedx (default) or spdx
      --platform P     the platform of a multi-platform image (default this machine's)
      --generate       make it from the image even when one is attached
  -o, --output FILE    write it to FILE instead of stdout
  -h, --help
`;

export const sbom: Command = async (args, ctx) => {
  const p = parse('sbom', args, {
    format: { type: 'string' },
    platform: { type: 'string' },
    generate: { type: 'boolean' },
    output: { type: 'string', short: 'o' },
    help: { type: 'boolean', short: 'h' },
  });
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

export const referrersHelp = `Usage: gantry referrers [OPTIONS] IMAGE

List the artifacts that refer to an image (SBOMs, provenance, signatures), and for a multi-platform
image to each of its manifests: through the registry's referrers API, or the referrers tag schema
(sha256-<hex>) on registries without it; or from an OCI layout (oci:DIR). Also \`gantry discover\`.

Options:
      --artifact-type T  only artifacts of this type (e.g. application/vnd.cyclonedx+json)
      --json             print a JSON array
  -h, --help
`;

export const referrers: Command = async (args, ctx) => {
  const p = parse('referrers', args, {
    'artifact-type': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) return help(ctx, referrersHelp);
  const image = oneImage('referrers', p.positionals);
  const artifactType = str(p, 'artifact-type');
  const list = await listReferrers(image, { ...common(ctx), ...(artifactType ? { artifactType } : {}) });
  if (flag(p, 'json')) ctx.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  else for (const r of list) ctx.stdout.write(`${r.subject}  ${r.artifactType ?? r.mediaType}  ${r.digest}\n`);
  return 0;
};

export const signHelp = `Usage: gantry sign [OPTIONS] IMAGE --key KEY

Sign an image in a registry as cosign does: an ECDSA P-256 signature over a simple-signing payload
naming the image's digest, stored under the sha256-<hex>.sig tag (appended to the signatures there)
and as a referrer. cosign verify --key accepts it.

Options:
      --key KEY        the private key: a PEM file (PKCS#8 or EC PRIVATE KEY), or env://VAR
      --form F         tag, referrer or both (default both)
  -h, --help
`;

export const sign: Command = async (args, ctx) => {
  const p = parse('sign', args, {
    key: { type: 'string' },
    form: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flag(p, 'help')) return help(ctx, signHelp);
  const image = oneImage('sign', p.positionals);
  const key = str(p, 'key');
  if (!key) throw usageError('gantry sign needs --key', 'give --key cosign.key or --key env://VAR');
  const form = str(p, 'form');
  if (form !== undefined && form !== 'tag' && form !== 'referrer' && form !== 'both')
    throw usageError(`invalid --form ${form}`, 'use tag, referrer or both');
  const done = await signImage(image, { ...common(ctx), key, ...(form ? { form } : {}) });
  ctx.stdout.write(`${done.reference}@${done.digest}\n`);
  return 0;
};

export const verifyHelp = `Usage: gantry verify [OPTIONS] IMAGE --key PUB

Check the cosign signatures of an image in a registry (sha256-<hex>.sig tag and referrers) against
a public key. Exits 0 and prints the image digest when one verifies; fails when none does (a
changed image, a signature moved from another image, or another key).

Options:
      --key PUB        the public key: a PEM file (e.g. cosign.pub), or env://VAR
  -h, --help
`;

export const verify: Command = async (args, ctx) => {
  const p = parse('verify', args, { key: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
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

export const scanHelp = `Usage: gantry scan [OPTIONS] IMAGE [-- SCANNER ARGS]

Run an installed vulnerability scanner on an image and return its output and exit code: grype,
trivy or osv-scanner, the first found on PATH unless --scanner names one. The scanner reads the
image's SBOM (the attached one, else one made from the image) or, with --input layout, the image
as an OCI layout (grype, trivy).

Options:
      --scanner S      grype, trivy, osv-scanner, or the path of one of them
      --input I        sbom (default) or layout
      --platform P     the platform of a multi-platform image
  -h, --help
`;

export const scan: Command = async (args, ctx) => {
  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  const extra = dash === -1 ? [] : args.slice(dash + 1);
  const p = parse('scan', own, {
    scanner: { type: 'string' },
    input: { type: 'string' },
    platform: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
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
