/**
 * What a dependency install needs from the host but no image may keep: registry credentials
 * (.npmrc: the project's, else the user's; the variables it names, NPM_TOKEN, NODE_AUTH_TOKEN),
 * extra CAs for networks that intercept TLS (`--ca-cert FILE`, the host's NODE_EXTRA_CA_CERTS)
 * and proxy settings. Files are mounted read-only from a private temp directory for the run and
 * removed afterwards; values reach the install as environment variables of that run only. None
 * of it enters a cache key, a layer, the config or the history.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BindMount } from '../../engine/executor/index.js';
import { GantryError } from '../../errors.js';

const SECRETS_DIR = '/run/gantry/secrets';

const PASSED_VARIABLES = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'NO_PROXY',
  'no_proxy',
  'NPM_TOKEN',
  'NODE_AUTH_TOKEN',
  'YARN_NPM_AUTH_TOKEN',
];

export interface InstallSecrets {
  /**
   * The files' read-only bind mounts, written into a private temp directory on the first call:
   * a build whose installs are all cache hits writes none.
   */
  mounts(): Promise<readonly BindMount[]>;
  readonly env: readonly string[];
  /** What was handed in, without values, for `-v` and `--dry-run`. */
  readonly described: readonly string[];
  dispose(): Promise<void>;
}

export interface SecretsInput {
  /** The project root (its .npmrc). */
  readonly root: string;
  /** `--ca-cert` files. */
  readonly caCerts: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

async function readSecret(path: string, what: string): Promise<string> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new GantryError('NODE_SECRET_UNREADABLE', `cannot read ${what} ${path}: ${err.code ?? err.message}`, {
      phase: 'config',
      suggestion: 'give a readable file',
    });
  });
}

/** Gathers the secrets for installs; their files are written into a private temp directory when an install runs. */
export async function installSecrets(input: SecretsInput): Promise<InstallSecrets> {
  const env: string[] = [];
  const described: string[] = [];
  const files: { name: string; content: string }[] = [];
  const cas: string[] = [];
  for (const ca of input.caCerts) {
    const text = await readSecret(ca, '--ca-cert');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new GantryError('NODE_CA_CERT_INVALID', `--ca-cert ${ca} holds no PEM certificate`, {
        phase: 'config',
        suggestion: 'give a PEM file (-----BEGIN CERTIFICATE-----)',
      });
    }
    // The same certificates twice (one file given twice, or as --ca-cert and NODE_EXTRA_CA_CERTS,
    // as in the bench): written once (a system bundle is ~440 KB).
    if (!cas.includes(text)) cas.push(text);
    described.push(`CA ${ca}`);
  }
  const hostExtra = input.env.NODE_EXTRA_CA_CERTS;
  if (hostExtra) {
    const given = input.caCerts.some((ca) => resolve(ca) === resolve(hostExtra));
    const text = given ? '' : await readFile(hostExtra, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      if (text !== '' && !cas.includes(text)) cas.push(text);
      described.push(`CA from NODE_EXTRA_CA_CERTS (${hostExtra})`);
    }
  }
  if (cas.length > 0) {
    files.push({ name: 'ca.pem', content: cas.map((c) => (c.endsWith('\n') ? c : `${c}\n`)).join('') });
    env.push(`NODE_EXTRA_CA_CERTS=${SECRETS_DIR}/ca.pem`);
  }
  const projectRc = await readFile(join(input.root, '.npmrc'), 'utf8').catch(() => undefined);
  const userRcPath = input.env.NPM_CONFIG_USERCONFIG ?? input.env.npm_config_userconfig ?? join(homedir(), '.npmrc');
  const userRc = await readFile(userRcPath, 'utf8').catch(() => undefined);
  const rc = [userRc, projectRc].filter((t): t is string => t !== undefined).join('\n');
  if (rc.trim() !== '') {
    files.push({ name: 'npmrc', content: rc });
    env.push(`npm_config_userconfig=${SECRETS_DIR}/npmrc`);
    described.push(
      `.npmrc (${[userRc === undefined ? '' : userRcPath, projectRc === undefined ? '' : "the project's"].filter(Boolean).join(' + ')})`,
    );
    // ${VAR} references in .npmrc are expanded by npm from the environment: pass those variables.
    for (const m of rc.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      const name = m[1] as string;
      const value = input.env[name];
      if (value !== undefined && !env.some((e) => e.startsWith(`${name}=`))) {
        env.push(`${name}=${value}`);
        described.push(`$${name}`);
      }
    }
  }
  for (const name of PASSED_VARIABLES) {
    const value = input.env[name];
    if (value !== undefined && value !== '' && !env.some((e) => e.startsWith(`${name}=`))) {
      env.push(`${name}=${value}`);
      described.push(`$${name}`);
    }
  }
  if (files.length === 0) return { mounts: async () => [], env, described, dispose: async () => {} };
  // The directory is known as soon as it exists: a write that fails half-way is removed too.
  let dir: string | undefined;
  let written: Promise<BindMount[]> | undefined;
  const write = async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-node-secrets-'));
    await chmod(dir, 0o700);
    const mounts: BindMount[] = [];
    for (const f of files) {
      await writeFile(join(dir, f.name), f.content, { mode: 0o644 });
      mounts.push({ source: join(dir, f.name), target: `${SECRETS_DIR}/${f.name}`, readonly: true });
    }
    return mounts;
  };
  return {
    mounts: () => {
      written ??= write();
      return written;
    },
    env,
    described,
    dispose: async () => {
      await written?.catch(() => {});
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
