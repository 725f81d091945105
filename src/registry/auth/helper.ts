/**
 * docker's credential helper protocol: `docker-credential-NAME get|store|erase`, the server URL
 * or a JSON {ServerURL, Username, Secret} on stdin, JSON on stdout. Username "<token>" marks the
 * secret as an identity (refresh) token. A helper that does not have the credential exits
 * non-zero saying "credentials not found"; that is a miss, not a failure.
 */
import { spawn } from 'node:child_process';
import { AbortedError, GantryError, type IoOptions } from '../../errors.js';

export interface HelperOptions extends IoOptions {
  /** The environment the helper runs in (its PATH finds the program). Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface HelperSecret {
  readonly username: string;
  readonly secret: string;
}

/** What docker puts in Username when the secret is an identity token. */
export const IDENTITY_TOKEN_USERNAME = '<token>';
const OUTPUT_LIMIT = 1 << 20;

/** The helper program cannot be run (not installed): callers decide whether that is a miss. */
export class HelperMissingError extends GantryError {
  readonly helper: string;
  constructor(helper: string, cause?: unknown) {
    super('CREDENTIAL_HELPER_MISSING', `credential helper docker-credential-${helper} is not installed`, {
      phase: 'config',
      suggestion: `install docker-credential-${helper} on PATH, or remove it from credsStore/credHelpers in the docker config`,
      cause,
    });
    this.name = 'HelperMissingError';
    this.helper = helper;
  }
}

function checkName(helper: string): void {
  // The name comes from a config file and becomes a program name: no paths, no options.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(helper)) {
    throw new GantryError('BAD_CREDENTIALS_FILE', `invalid credential helper name ${JSON.stringify(helper)}`, {
      phase: 'config',
      suggestion: 'name a helper like "pass" or "ecr-login" (docker runs docker-credential-NAME)',
    });
  }
}

interface HelperResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(helper: string, action: string, input: string, options: HelperOptions): Promise<HelperResult> {
  checkName(helper);
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(new AbortedError({ cause: signal.reason }));
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [action], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLength = 0;
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => {
      child.kill('SIGTERM');
      finish(() => reject(new AbortedError({ cause: signal?.reason })));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          e.code === 'ENOENT'
            ? new HelperMissingError(helper, e)
            : new GantryError('CREDENTIAL_HELPER_FAILED', `docker-credential-${helper} ${action}: ${e.message}`, {
                phase: 'config',
                cause: e,
              }),
        ),
      );
    });
    child.stdout.on('data', (chunk: Buffer) => {
      outLength += chunk.length;
      if (outLength <= OUTPUT_LIMIT) out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.reduce((n, b) => n + b.length, 0) < 64 * 1024) err.push(chunk);
    });
    // A helper that exits without reading stdin makes the write fail with EPIPE: its exit code tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('close', (code) => {
      finish(() =>
        resolve({
          code: code ?? 1,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
    });
  });
}

function failure(helper: string, action: string, result: HelperResult): GantryError {
  const said = (result.stdout.trim() || result.stderr.trim()).split('\n')[0]?.slice(0, 200) ?? '';
  return new GantryError(
    'CREDENTIAL_HELPER_FAILED',
    `docker-credential-${helper} ${action} failed (exit ${result.code})${said ? `: ${said}` : ''}`,
    {
      phase: 'config',
      suggestion: `check that docker-credential-${helper} works (try: echo SERVER | docker-credential-${helper} ${action})`,
    },
  );
}

function notFound(result: HelperResult): boolean {
  return /credentials not found/i.test(result.stdout) || /credentials not found/i.test(result.stderr);
}

/** The stored secret for a server URL, or undefined when the helper has none. */
export async function helperGet(
  helper: string,
  serverUrl: string,
  options: HelperOptions = {},
): Promise<HelperSecret | undefined> {
  const result = await run(helper, 'get', serverUrl, options);
  if (result.code !== 0) {
    if (notFound(result)) return undefined;
    throw failure(helper, 'get', result);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new GantryError(
      'CREDENTIAL_HELPER_FAILED',
      `docker-credential-${helper} get printed something that is not JSON`,
      {
        phase: 'config',
        suggestion: `check that docker-credential-${helper} works (try: echo ${serverUrl} | docker-credential-${helper} get)`,
      },
    );
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const username = typeof record.Username === 'string' ? record.Username : '';
  const secret = typeof record.Secret === 'string' ? record.Secret : '';
  if (secret === '') return undefined;
  return { username, secret };
}

export async function helperStore(
  helper: string,
  serverUrl: string,
  secret: HelperSecret,
  options: HelperOptions = {},
): Promise<void> {
  const input = JSON.stringify({ ServerURL: serverUrl, Username: secret.username, Secret: secret.secret });
  const result = await run(helper, 'store', input, options);
  if (result.code !== 0) throw failure(helper, 'store', result);
}

/** Erases the secret for a server URL; false when the helper had none. */
export async function helperErase(helper: string, serverUrl: string, options: HelperOptions = {}): Promise<boolean> {
  const result = await run(helper, 'erase', serverUrl, options);
  if (result.code === 0) return true;
  if (notFound(result)) return false;
  throw failure(helper, 'erase', result);
}
