/**
 * The gantry command line: global flags, dispatch to a command, and the one place that turns
 * errors into one line and an exit code (0 ok, 1 failure, 2 usage, 130 interrupted).
 */
import { readFileSync } from 'node:fs';
import { GantryError } from '../errors.js';
import type { RegistryClient } from '../registry/client/client.js';
import { mirrorsFor, type RegistriesConfig } from '../registry/config/index.js';
import { Store } from '../store/store.js';
import { build, buildHelp } from './commands/build.js';
import {
  catalog,
  catalogHelp,
  copy,
  copyHelp,
  del,
  deleteHelp,
  digest,
  digestHelp,
  inspect,
  inspectHelp,
  login,
  loginHelp,
  logout,
  logoutHelp,
  pull,
  pullHelp,
  push,
  pushHelp,
  tags,
  tagsHelp,
} from './commands/registry.js';
import { images, imagesHelp, load, loadHelp, prune, pruneHelp, rmi, rmiHelp } from './commands/store.js';
import { type Command, type CommandContext, type GlobalFlags, usageError } from './context.js';
import { parseProgressMode } from './progress.js';
import { createClient } from './registry.js';

const commands: Record<string, { run: Command; help: string; summary: string }> = {
  build: { run: build, help: buildHelp, summary: 'build an image from a directory' },
  images: { run: images, help: imagesHelp, summary: 'list images in the store' },
  rmi: { run: rmi, help: rmiHelp, summary: 'remove image names from the store' },
  prune: { run: prune, help: pruneHelp, summary: 'delete unused blobs from the store' },
  load: { run: load, help: loadHelp, summary: 'import an OCI layout, OCI archive or docker-archive' },
  push: { run: push, help: pushHelp, summary: 'push an image to a registry' },
  pull: { run: pull, help: pullHelp, summary: 'pull an image from a registry into the store' },
  copy: { run: copy, help: copyHelp, summary: 'copy an image between registries and files' },
  inspect: { run: inspect, help: inspectHelp, summary: 'show an image, its manifest or its config' },
  digest: { run: digest, help: digestHelp, summary: 'print the digest of an image' },
  tags: { run: tags, help: tagsHelp, summary: 'list the tags of a repository' },
  catalog: { run: catalog, help: catalogHelp, summary: 'list the repositories of a registry' },
  delete: { run: del, help: deleteHelp, summary: 'delete an image from a registry' },
  login: { run: login, help: loginHelp, summary: 'check and store a registry credential' },
  logout: { run: logout, help: logoutHelp, summary: 'remove a stored registry credential' },
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return `Usage: gantry [GLOBAL OPTIONS] COMMAND [OPTIONS]

Build and ship OCI container images without a daemon.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Global options:
  --store DIR        the image store (default $GANTRY_STORE or $XDG_DATA_HOME/gantry/store)
  --progress MODE    auto, tty, plain, json or quiet
  --insecure         skip TLS verification of registries
  --plain-http       talk plain HTTP to registries
  --chunk-size SIZE  upload blobs in chunks of SIZE (e.g. 5M); default: one request, chunks on 413
  --timeout DURATION overall deadline of the command, e.g. 10m (default none; $GANTRY_TIMEOUT)
  -u, --username U   registry user (with --password-stdin)
  --password-stdin   read the registry password from stdin
  --debug            print stack traces
  --version          print the version
  -h, --help         help for gantry or a command
`;
}

/** `90s`, `10m`, `1h`, or plain seconds. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw usageError(`invalid ${what} ${JSON.stringify(value)}`, 'give a duration such as 90s, 10m or 1h');
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

/** `5242880`, `512k`, `5M`, `1G` (binary units). */
export function parseSize(value: string, what: string): number {
  const m = /^(\d+)([kmg]i?b?)?$/i.exec(value.trim());
  if (!m || Number(m[1]) === 0)
    throw usageError(`invalid ${what} ${JSON.stringify(value)}`, 'give a size such as 5M or 1048576');
  const unit = (m[2] ?? '').toLowerCase()[0];
  const scale = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * scale;
}

/** Takes the global flags out of argv, wherever they stand. */
export function splitGlobalFlags(argv: readonly string[]): { flags: GlobalFlags; rest: string[] } {
  const rest: string[] = [];
  let store: string | undefined;
  let debug = false;
  let progress: string | undefined;
  let insecure = false;
  let plainHttp = false;
  let timeout: string | undefined;
  let username: string | undefined;
  let passwordStdin = false;
  let chunkSize: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const valued = (name: string): string | undefined => {
      if (a === `--${name}`) {
        const v = argv[i + 1];
        if (v === undefined) throw usageError(`--${name} needs a value`, `give --${name} VALUE`);
        i += 1;
        return v;
      }
      if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
      return undefined;
    };
    const s = valued('store');
    if (s !== undefined) {
      store = s;
      continue;
    }
    const p = valued('progress');
    if (p !== undefined) {
      progress = p;
      continue;
    }
    const cs = valued('chunk-size');
    if (cs !== undefined) {
      chunkSize = cs;
      continue;
    }
    const t = valued('timeout');
    if (t !== undefined) {
      timeout = t;
      continue;
    }
    const u = valued('username');
    if (u !== undefined) {
      username = u;
      continue;
    }
    if (a === '-u') {
      username = argv[i + 1];
      if (username === undefined) throw usageError('-u needs a user name', 'give -u USER');
      i += 1;
      continue;
    }
    if (a === '--debug') debug = true;
    else if (a === '--insecure') insecure = true;
    else if (a === '--plain-http') plainHttp = true;
    else if (a === '--password-stdin') passwordStdin = true;
    else rest.push(a);
  }
  const envProgress = process.env.GANTRY_PROGRESS ?? process.env.BUILDKIT_PROGRESS;
  const timeoutValue = timeout ?? process.env.GANTRY_TIMEOUT;
  const timeoutMs = timeoutValue === undefined ? undefined : parseDuration(timeoutValue, '--timeout');
  return {
    flags: {
      ...(store ? { store } : {}),
      debug,
      progress: parseProgressMode(progress ?? envProgress),
      insecure,
      plainHttp,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(username === undefined ? {} : { username }),
      passwordStdin,
      ...(chunkSize === undefined ? {} : { chunkSize: parseSize(chunkSize, '--chunk-size') }),
    },
    rest,
  };
}

export interface RunIO {
  readonly stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly signal?: AbortSignal;
}

function describe(err: unknown): string {
  if (GantryError.is(err)) return err.oneLine();
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') return `${err.message}: free some disk space and try again`;
    if (code === 'EACCES' || code === 'EPERM') return `${err.message}: check the permissions of that path`;
    if (code === 'ENOENT') return `${err.message}: check that the path exists`;
    return err.message;
  }
  return String(err);
}

function isAbort(err: unknown): boolean {
  if (GantryError.is(err)) return err.code === 'ABORTED';
  return err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR');
}

function isTimeout(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError') return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error && cause.name === 'TimeoutError';
}

/** Runs gantry with `argv` (without node and the script) and returns the exit code. */
export async function run(argv: readonly string[], io: RunIO = {}): Promise<number> {
  const stdout = (io.stdout ?? process.stdout) as CommandContext['stdout'];
  const stderr = (io.stderr ?? process.stderr) as CommandContext['stderr'];
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new GantryError('ABORTED', 'interrupted', { suggestion: 'press Ctrl-C again to quit at once' }));
  };
  const external = io.signal;
  external?.addEventListener('abort', () => controller.abort(external.reason), { once: true });
  const isMain = io.signal === undefined;
  if (isMain) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let debug = argv.includes('--debug');
  let timeoutMs: number | undefined;
  try {
    const { flags, rest } = splitGlobalFlags(argv);
    debug = flags.debug;
    const [name, ...args] = rest;
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      const topic = name === 'help' ? args[0] : undefined;
      const cmd = topic === undefined ? undefined : commands[topic];
      stdout.write(cmd ? cmd.help : mainHelp());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === 'version') {
      stdout.write(`gantry ${version()}\n`);
      return 0;
    }
    const command = commands[name];
    if (!command) throw usageError(`unknown command ${JSON.stringify(name)}`, 'run gantry --help to see the commands');
    let store: Promise<Store> | undefined;
    let client: Promise<{ client: RegistryClient; config: RegistriesConfig }> | undefined;
    let loadedConfig: RegistriesConfig | undefined;
    let password: Promise<string | undefined> | undefined;
    const signal =
      flags.timeoutMs === undefined
        ? controller.signal
        : AbortSignal.any([controller.signal, AbortSignal.timeout(flags.timeoutMs)]);
    const readPassword = () => {
      password ??= flags.passwordStdin ? readStdin() : Promise.resolve(undefined);
      return password;
    };
    const ctx: CommandContext = {
      flags,
      stdout,
      stderr,
      signal,
      store: () => {
        store ??= Store.open(flags.store ? { dir: flags.store } : {});
        return store;
      },
      client: async (progress) => {
        const pw = await readPassword();
        client ??= createClient({
          flags,
          signal,
          ...(pw === undefined ? {} : { password: pw }),
          ...(progress ? { progress } : {}),
        });
        const made = await client;
        loadedConfig = made.config;
        return made.client;
      },
      mirrors: (registry) => (loadedConfig ? mirrorsFor(loadedConfig, registry) : []),
      readPassword,
    };
    timeoutMs = flags.timeoutMs;
    return await command.run(args, ctx);
  } catch (err) {
    if (timeoutMs !== undefined && !controller.signal.aborted && isTimeout(err)) {
      stderr.write(`gantry: error: timed out after ${timeoutMs / 1000}s: raise --timeout or check the network\n`);
      return 1;
    }
    if (isAbort(err) || controller.signal.aborted) {
      stderr.write('gantry: interrupted; nothing was written\n');
      return 130;
    }
    stderr.write(`gantry: error: ${describe(err)}\n`);
    if (debug && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
    return GantryError.is(err) && err.phase === 'usage' ? 2 : 1;
  } finally {
    if (isMain) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
