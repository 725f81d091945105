/**
 * The dependency layer: the base's own Python creates a virtual environment at /opt/venv that
 * sees the base's site-packages (as `RUN pip install -r requirements.txt` would leave them
 * importable), and the base's own pip installs the pinned or required set into it, inside the
 * base, in the engine's sandbox, for the target platform (qemu-user for a foreign one), so native
 * extensions match. The step's key holds only the dependency inputs (the requirement lines, the
 * platform, the base, the index settings without credentials, the find-links contents), never the
 * application code. Credentials (netrc, URL user info) and extra CAs reach pip for the run only.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { BindMount } from '../../engine/executor/index.js';
import type { RunningStep, Solver, StepResult } from '../../engine/solver/solver.js';
import { runStep } from '../../engine/solver/steps.js';
import { GantryError } from '../../errors.js';
import { createDigester } from '../../oci/digest.js';
import type { Layer } from '../../oci/image.js';
import { formatPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import type { SecretSource } from '../dockerfile/index.js';
import { pointVenvAt } from './venv.js';

export const VENV = '/opt/venv';
const WORK = '/run/gantry-pip';

export interface IndexSettings {
  readonly indexUrl?: string;
  readonly extraIndexUrls: readonly string[];
  /** Host directories (absolute) or URLs. */
  readonly findLinks: readonly string[];
  readonly noIndex: boolean;
}

export interface DependencyInputs {
  readonly requirements: readonly string[];
  readonly constraints: readonly string[];
  readonly index: IndexSettings;
  readonly platform: Platform;
  readonly pythonVersion: string;
  /** Secrets by id: `netrc`, `ca`. */
  readonly secrets: Readonly<Record<string, SecretSource>>;
  /** The host environment: proxy settings are passed to pip (never into the image). */
  readonly environment: NodeJS.ProcessEnv;
  /** The base cannot install (no pip, distroless): the install runs in this tools image instead. */
  readonly tools?: ToolsImage;
}

/** A tools image that installs for a base without pip: its ref, and the two interpreters. */
export interface ToolsImage {
  readonly ref: string;
  /** The base's interpreter (absolute): the venv is pointed at it once made. */
  readonly basePython: string;
  /** The tools image's interpreter: a venv is pointed back at it for a later step in the tools image. */
  readonly toolsPython: string;
  /** Why the install runs there (for the step name and the plan). */
  readonly why: string;
}

/** A URL without its user info, for keys, plans and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

function isUrl(v: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(v);
}

/** sha256 over a find-links directory's file names and contents (it is small: wheels). */
async function dirDigest(dir: string): Promise<string> {
  const d = createDigester('sha256');
  const names = (
    await readdir(dir, { withFileTypes: true }).catch(() => {
      throw new GantryError('FIND_LINKS_NOT_FOUND', `--find-links ${dir} is not a readable directory`, {
        phase: 'config',
        suggestion: 'give a directory of wheels (or sdists)',
      });
    })
  )
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  for (const n of names) {
    const st = await stat(join(dir, n));
    d.update(Buffer.from(`${JSON.stringify([n, st.size, Math.floor(st.mtimeMs)])}\n`));
  }
  return d.digest();
}

/** Resolves find-links entries: context-relative directories become absolute. */
export function resolveFindLinks(context: string, links: readonly string[]): string[] {
  return links.map((l) => (isUrl(l) || isAbsolute(l) ? l : resolve(context, l)));
}

const INSTALL_SCRIPT = `import json, subprocess, sys
cfg = json.load(open(sys.argv[1]))
subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", cfg["venv"]], check=True)
cmd = [cfg["venv"] + "/bin/python", "-m", "pip", "install", "--no-compile", "--no-cache-dir",
       "--disable-pip-version-check", "--no-warn-script-location", "--root-user-action=ignore"] + cfg["args"]
sys.exit(subprocess.run(cmd).returncode)
`;

const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'ALL_PROXY'];

async function secretFile(source: SecretSource, dir: string, name: string): Promise<string> {
  if ('file' in source) return resolve(source.file);
  const value = process.env[source.env];
  if (value === undefined) {
    throw new GantryError('SECRET_MISSING', `secret ${name}: environment variable ${source.env} is not set`, {
      phase: 'build',
      suggestion: `set ${source.env} or give the secret as a file`,
    });
  }
  const path = join(dir, name);
  await writeFile(path, value, { mode: 0o600 });
  return path;
}

/** What decides the layer, as key inputs (no credentials). */
export async function dependencyKey(inputs: DependencyInputs): Promise<string[]> {
  const links: string[] = [];
  for (const l of inputs.index.findLinks) links.push(isUrl(l) ? redactUrl(l) : `dir:${await dirDigest(l)}`);
  return [
    'python dependencies v1',
    formatPlatform(inputs.platform),
    inputs.pythonVersion,
    JSON.stringify(inputs.requirements),
    JSON.stringify(inputs.constraints),
    JSON.stringify({
      index: inputs.index.indexUrl === undefined ? null : redactUrl(inputs.index.indexUrl),
      extra: inputs.index.extraIndexUrls.map(redactUrl),
      noIndex: inputs.index.noIndex,
    }),
    JSON.stringify(links),
    // Installed in a tools image, the venv names the base's interpreter: another base, another layer.
    ...(inputs.tools ? [`tools ${inputs.tools.basePython}`] : []),
  ];
}

/** The install as a solver step on top of the base (`parent` is the base's key). */
export async function dependencyStep(
  solver: Solver,
  parent: string,
  baseLayers: readonly Layer[],
  baseEnv: readonly string[],
  inputs: DependencyInputs,
  ctx: { readonly sourceDateEpoch: number; readonly isolation?: import('../../engine/executor/index.js').Isolation },
): Promise<StepResult> {
  const key = await dependencyKey(inputs);
  return solver.step({
    parent,
    inputs: key,
    name: `pip install ${inputs.requirements.length} requirement(s) into ${VENV} (${formatPlatform(inputs.platform)})${inputs.tools ? ` in the tools image ${inputs.tools.ref} (${inputs.tools.why})` : ''}`,
    run: (step) => install(solver, baseLayers, baseEnv, inputs, ctx, step),
  });
}

async function install(
  solver: Solver,
  baseLayers: readonly Layer[],
  baseEnv: readonly string[],
  inputs: DependencyInputs,
  ctx: { readonly sourceDateEpoch: number; readonly isolation?: import('../../engine/executor/index.js').Isolation },
  step: RunningStep,
) {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-pip-'));
  try {
    await writeFile(join(dir, 'install.py'), INSTALL_SCRIPT);
    await writeFile(join(dir, 'requirements.txt'), `${inputs.requirements.join('\n')}\n`);
    const args = ['-r', `${WORK}/requirements.txt`];
    // In a tools image, what its own site-packages hold is not on the base: install everything.
    if (inputs.tools) args.push('--ignore-installed');
    if (inputs.constraints.length > 0) {
      await writeFile(join(dir, 'constraints.txt'), `${inputs.constraints.join('\n')}\n`);
      args.push('-c', `${WORK}/constraints.txt`);
    }
    const mounts: BindMount[] = [];
    const { index } = inputs;
    if (index.noIndex) args.push('--no-index');
    if (index.indexUrl !== undefined) args.push('--index-url', index.indexUrl);
    for (const u of index.extraIndexUrls) args.push('--extra-index-url', u);
    for (const [i, l] of index.findLinks.entries()) {
      if (isUrl(l)) args.push('--find-links', l);
      else {
        const target = `/run/gantry-links/${i}`;
        mounts.push({ source: l, target, readonly: true });
        args.push('--find-links', target);
      }
    }
    await writeFile(join(dir, 'install.json'), JSON.stringify({ venv: VENV, args }));
    mounts.unshift({ source: dir, target: WORK, readonly: true });
    const env = [...baseEnv.filter((e) => !e.startsWith('PIP_')), 'PYTHONDONTWRITEBYTECODE=1', 'PIP_NO_INPUT=1'];
    for (const v of PROXY_VARS) {
      const value = inputs.environment[v];
      if (value !== undefined) env.push(`${v}=${value}`);
    }
    const secrets = await mkdtemp(join(tmpdir(), 'gantry-pip-secrets-'));
    try {
      const netrc = inputs.secrets.netrc;
      if (netrc) {
        mounts.push({
          source: await secretFile(netrc, secrets, 'netrc'),
          target: '/run/secrets/netrc',
          readonly: true,
        });
        env.push('NETRC=/run/secrets/netrc');
      }
      const ca = inputs.secrets.ca;
      if (ca) {
        mounts.push({ source: await secretFile(ca, secrets, 'ca'), target: '/run/secrets/ca.pem', readonly: true });
        env.push('PIP_CERT=/run/secrets/ca.pem');
      }
      return await runStep(
        baseLayers,
        {
          args: ['python3', `${WORK}/install.py`, `${WORK}/install.json`],
          env,
          cwd: '/',
          network: 'default',
          platform: inputs.platform,
          mounts,
          onOutput: (line) => step.log(line),
        },
        undefined,
        {
          ...solver.context,
          sourceDateEpoch: ctx.sourceDateEpoch,
          ...(ctx.isolation ? { isolation: ctx.isolation } : {}),
        },
        inputs.tools ? { after: (root) => pointVenvAt(join(root, VENV), (inputs.tools as ToolsImage).basePython) } : {},
      );
    } finally {
      await rm(secrets, { recursive: true, force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
