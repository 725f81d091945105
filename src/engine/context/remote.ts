/**
 * Build contexts that are not a local directory, as docker build, buildx and Kaniko take them:
 * `-` (a tar, optionally compressed, or a Dockerfile on stdin), an `http(s)://` URL of a tar or
 * tar.gz (or of a Dockerfile), and a git repository (`https://host/repo.git#ref:subdir`,
 * `git@host:repo.git#ref`, `git://`, `ssh://`). Each becomes a private temporary directory that
 * the build reads like any context and that is removed afterwards. Archives are extracted with the
 * layer extraction's rules (no escape from the directory, no device nodes, no owners), so a hostile
 * archive cannot write outside it; the subdirectory of a git URL is resolved inside the checkout.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions } from '../../errors.js';
import { extractLayer } from '../../layer/extract.js';
import { decompressStream } from '../../layer/layer.js';
import { createHttpTransport } from '../../registry/transport/http.js';
import type { RoundTripper } from '../../registry/transport/types.js';
import { noProgress, type ProgressSink } from '../../util/progress.js';
import { resolveInRoot } from '../../util/rootpath.js';

/** A context fetched into a temporary directory. */
export interface FetchedContext {
  /** The directory the build reads. */
  readonly dir: string;
  /** The Dockerfile when the source was a Dockerfile rather than an archive (inside `dir`). */
  readonly dockerfile?: string;
  /** What it came from, for progress and errors (credentials in URLs are masked). */
  readonly source: string;
  /** Removes the directory. */
  cleanup(): Promise<void>;
}

export interface FetchContextOptions extends IoOptions {
  readonly progress?: ProgressSink;
  /** Where `-` reads from; default process.stdin. */
  readonly stdin?: Readable;
  /** The HTTP stack for URL contexts; default a transport with the environment's proxies. */
  readonly transport?: RoundTripper;
  readonly env?: NodeJS.ProcessEnv;
}

export interface GitSource {
  /** What `git fetch` is given. */
  readonly remote: string;
  /** Branch, tag or commit; undefined for the remote's HEAD. */
  readonly ref?: string;
  /** A directory inside the repository, `''` for its root. */
  readonly subdir: string;
}

export { isRemoteContext } from './remote-spec.js';

/**
 * The git repository a context names, as BuildKit reads it: `git://`, `ssh://`, `git@host:path`,
 * or an http(s) URL whose path ends in `.git`; the fragment is `REF[:SUBDIR]`. Undefined for other
 * URLs (a tarball or a Dockerfile).
 */
export function parseGitContext(spec: string): GitSource | undefined {
  const hash = spec.indexOf('#');
  const base = hash < 0 ? spec : spec.slice(0, hash);
  const fragment = hash < 0 ? '' : spec.slice(hash + 1);
  let isGit = /^(git|ssh):\/\//i.test(base) || /^git@[^:]+:/.test(base);
  if (!isGit && /^https?:\/\//i.test(base)) {
    try {
      isGit = new URL(base).pathname.endsWith('.git');
    } catch {
      return undefined;
    }
  }
  if (!isGit) return undefined;
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  if (ref.startsWith('-')) {
    throw new GantryError('CONTEXT_INVALID', `invalid git reference ${JSON.stringify(ref)} in ${mask(spec)}`, {
      phase: 'usage',
      suggestion: 'give URL#BRANCH, URL#TAG or URL#COMMIT, optionally followed by :SUBDIR',
    });
  }
  return { remote: base, ...(ref === '' ? {} : { ref }), subdir: subdir.replace(/^\/+|\/+$/g, '') };
}

/** `https://user:secret@host/x` -> `https://user:***@host/x`, for messages. */
function mask(spec: string): string {
  return spec.replace(/^([a-z+]+:\/\/[^/:@]+:)[^/@]*@/i, '$1***@');
}

/** Fetches a remote context (see the file header) into a private temporary directory. */
export async function fetchContext(spec: string, options: FetchContextOptions = {}): Promise<FetchedContext> {
  const progress = options.progress ?? noProgress;
  const root = await mkdtemp(join(tmpdir(), 'gantry-context-'));
  const dir = join(root, 'context');
  const cleanup = () => rm(root, { recursive: true, force: true });
  const source = spec === '-' ? 'stdin' : mask(spec);
  const id = 'context';
  progress({ type: 'start', id, name: `fetching context ${source}` });
  try {
    const git = spec === '-' ? undefined : parseGitContext(spec);
    let fetched: { dir: string; dockerfile?: string };
    if (git) fetched = await cloneGit(git, root, options);
    else {
      const local = spec !== '-' && statSync(spec, { throwIfNoEntry: false })?.isFile() === true;
      const download = local ? spec : join(root, 'download');
      if (spec === '-') await pipeline(options.stdin ?? process.stdin, createWriteStream(download, { mode: 0o600 }));
      else if (!local) await downloadTo(spec, download, options);
      fetched = await unpackDownload(download, dir, options);
    }
    progress({ type: 'done', id });
    return { ...fetched, source, cleanup };
  } catch (err) {
    progress({ type: 'error', id, message: err instanceof Error ? err.message : String(err) });
    await cleanup();
    throw err;
  }
}

async function downloadTo(url: string, file: string, options: FetchContextOptions): Promise<void> {
  const transport = options.transport ?? createHttpTransport();
  const response = await transport({
    method: 'GET',
    url: new URL(url),
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((err: unknown) => {
    throw fetchFailed(url, err instanceof Error ? err.message : String(err), err);
  });
  if (response.status !== 200) {
    await response.discard();
    throw fetchFailed(url, `HTTP ${response.status}`);
  }
  await pipeline(
    response.body,
    createWriteStream(file, { mode: 0o600 }),
    options.signal ? { signal: options.signal } : {},
  );
}

function fetchFailed(url: string, why: string, cause?: unknown): GantryError {
  return new GantryError('CONTEXT_FETCH_FAILED', `cannot fetch the build context ${mask(url)}: ${why}`, {
    phase: 'resolve',
    suggestion: 'check the URL, the network and the proxy settings (HTTPS_PROXY), then retry',
    cause,
  });
}

const TAR_MAGIC_OFFSET = 257;

/** A tar (plain, gzip or zstd) is extracted into `dir`; anything else is taken as a Dockerfile. */
async function unpackDownload(
  file: string,
  dir: string,
  options: FetchContextOptions,
): Promise<{ dir: string; dockerfile?: string }> {
  const size = (await lstat(file)).size;
  const head = await readHead(file);
  if (head.length === 0 && size === 0) {
    throw new GantryError('CONTEXT_INVALID', 'the build context is empty', {
      phase: 'usage',
      suggestion: 'send a tar, a tar.gz or a Dockerfile',
    });
  }
  const compressed = (head[0] === 0x1f && head[1] === 0x8b) || (head[0] === 0x28 && head[1] === 0xb5);
  if (compressed || isTarHeader(head)) {
    try {
      const stream = await decompressStream(createReadStream(file));
      await extractLayer(stream, dir, { owners: false, devices: false, whiteouts: 'keep', ...io(options) });
    } catch (err) {
      if (GantryError.is(err) && err.code !== 'EXTRACT_FAILED') throw err;
      throw new GantryError(
        'CONTEXT_INVALID',
        `the build context is not a readable tar archive: ${(err as Error).message}`,
        {
          phase: 'usage',
          suggestion: 'send a tar or tar.gz of the context directory (tar -czf - -C DIR .)',
          cause: err,
        },
      );
    }
    return { dir };
  }
  // A Dockerfile on its own, as `docker build - < Dockerfile` takes it: an empty context.
  const text = await readFile(file);
  if (text.includes(0)) {
    throw new GantryError('CONTEXT_INVALID', 'the build context is neither a tar archive nor a Dockerfile', {
      phase: 'usage',
      suggestion: 'send a tar, a tar.gz or a Dockerfile',
    });
  }
  await mkdir(dir, { mode: 0o700 });
  const dockerfile = join(dir, 'Dockerfile');
  await writeFile(dockerfile, text);
  return { dir, dockerfile };
}

function isTarHeader(head: Buffer): boolean {
  return head.length >= 512 && head.subarray(TAR_MAGIC_OFFSET, TAR_MAGIC_OFFSET + 5).toString('latin1') === 'ustar';
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function io(options: IoOptions): IoOptions {
  return options.signal ? { signal: options.signal } : {};
}

/** Runs git without a terminal prompt; a failure names the command and git's last line. */
function git(args: readonly string[], cwd: string, options: FetchContextOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env: { ...(options.env ?? process.env), GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
      ...io(options),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4096);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(
          new GantryError('GIT_MISSING', 'a git build context needs git, which is not installed', {
            phase: 'resolve',
            suggestion: 'install git (apt-get install git), or send the context as a tar.gz URL or on stdin',
          }),
        );
      } else reject(err);
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const last = stderr.trim().split('\n').pop() ?? '';
        reject(Object.assign(new Error(`git ${args[0]} failed (exit ${code}): ${last}`), { gitExit: code }));
      }
    });
  });
}

async function cloneGit(
  source: GitSource,
  root: string,
  options: FetchContextOptions,
): Promise<{ dir: string; dockerfile?: string }> {
  const checkout = join(root, 'checkout');
  const failed = (err: unknown) =>
    GantryError.is(err)
      ? err
      : new GantryError(
          'CONTEXT_FETCH_FAILED',
          `cannot fetch the git context ${mask(source.remote)}${source.ref ? `#${source.ref}` : ''}: ${(err as Error).message}`,
          {
            phase: 'resolve',
            suggestion:
              'check the repository URL, the reference and the credentials (a token in the URL or a credential helper)',
            cause: err,
          },
        );
  try {
    await mkdir(checkout, { mode: 0o700 });
    await git(['init', '-q'], checkout, options);
    await git(['remote', 'add', 'origin', source.remote], checkout, options);
    const ref = source.ref ?? 'HEAD';
    try {
      await git(['fetch', '-q', '--depth', '1', '--no-tags', 'origin', ref], checkout, options);
    } catch {
      // A commit the server will not serve by name in a shallow fetch: fetch everything, then pick it.
      await git(['fetch', '-q', '--tags', 'origin'], checkout, options);
      await git(['rev-parse', '--verify', '-q', `${ref}^{commit}`], checkout, options);
      await git(['checkout', '-q', '--detach', ref], checkout, options);
      return await finishCheckout(checkout, source, options);
    }
    await git(['checkout', '-q', '--detach', 'FETCH_HEAD'], checkout, options);
  } catch (err) {
    throw failed(err);
  }
  return finishCheckout(checkout, source, options);
}

async function finishCheckout(checkout: string, source: GitSource, options: FetchContextOptions) {
  if (existsSync(join(checkout, '.gitmodules'))) {
    await git(['submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], checkout, options);
  }
  // The build sees the files, not the repository (BuildKit drops .git unless asked to keep it).
  await rm(join(checkout, '.git'), { recursive: true, force: true });
  if (source.subdir === '') return { dir: checkout };
  const inRoot = await resolveInRoot(checkout, source.subdir, { phase: 'resolve' });
  const dir = join(checkout, inRoot);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new GantryError('CONTEXT_NOT_FOUND', `the git context has no directory ${JSON.stringify(source.subdir)}`, {
      phase: 'resolve',
      suggestion: 'check the part after ":" in URL#REF:DIR',
    });
  }
  return { dir };
}
