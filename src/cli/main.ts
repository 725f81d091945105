/**
 * The gantry command line: global flags, dispatch to a command, and the one place that turns
 * errors into one line and an exit code (0 ok, 1 failure, 2 usage, 130 interrupted).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { closest } from '../dockerfile/flags.js';
import { explainSystemError, GantryError } from '../errors.js';
import { type Command, type CommandContext, type GlobalFlags, usageError } from './context.js';
import { renderFlags } from './flags.js';
import {
  createJsonLogRenderer,
  EXIT,
  exitCodeFor,
  jsonLogLine,
  MetricsCollector,
  parseLogFormat,
  terminationLogPath,
  writeTerminationLog,
} from './job.js';
import { createRenderer, formatBytes, parseProgressMode } from './progress.js';
import { COMMAND_SPECS, GLOBAL_FLAGS } from './specs/index.js';

interface CommandModule {
  readonly run: Command;
  readonly help: string;
}

/**
 * The commands, each loaded only when it runs: `gantry pull` never loads the build engine, and
 * every invocation starts faster and smaller.
 */
const loaders: Record<string, () => Promise<CommandModule>> = {
  build: async () => {
    const m = await import('./commands/build.js');
    return {
      run: m.build,
      get help() {
        return m.buildHelp();
      },
    };
  },
  images: async () => storeCommand('images'),
  rmi: async () => storeCommand('rmi'),
  prune: async () => storeCommand('prune'),
  load: async () => storeCommand('load'),
  push: async () => registryCommand('push'),
  pull: async () => registryCommand('pull'),
  copy: async () => registryCommand('copy'),
  inspect: async () => registryCommand('inspect'),
  digest: async () => registryCommand('digest'),
  tags: async () => registryCommand('tags'),
  catalog: async () => registryCommand('catalog'),
  delete: async () => registryCommand('del', 'delete'),
  login: async () => registryCommand('login'),
  logout: async () => registryCommand('logout'),
  append: async () => craneCommand('append'),
  mutate: async () => craneCommand('mutate'),
  flatten: async () => craneCommand('flatten'),
  rebase: async () => craneCommand('rebase'),
  tag: async () => craneCommand('tag'),
  export: async () => craneCommand('export'),
  blob: async () => craneCommand('blob'),
  validate: async () => craneCommand('validate'),
  index: async () => craneCommand('index'),
  sbom: async () => supplyCommand('sbom'),
  referrers: async () => supplyCommand('referrers'),
  discover: async () => supplyCommand('referrers'),
  sign: async () => supplyCommand('sign'),
  verify: async () => supplyCommand('verify'),
  scan: async () => supplyCommand('scan'),
  info: async () => {
    const m = await import('./commands/info.js');
    return { run: m.info, help: m.infoHelp };
  },
  completion: async () => {
    const m = await import('./commands/completion.js');
    return { run: m.completion, help: m.completionHelp };
  },
};

/** The commands, in the order of their tables, each with its summary and its loader. */
const commands: Record<string, { readonly summary: string; load(): Promise<CommandModule> }> = Object.fromEntries(
  COMMAND_SPECS.map((spec) => {
    const load = loaders[spec.name];
    if (load === undefined) throw new Error(`no command for the table of ${spec.name}`);
    return [spec.name, { summary: spec.summary, load }];
  }),
);

async function storeCommand(name: 'images' | 'rmi' | 'prune' | 'load'): Promise<CommandModule> {
  const m = await import('./commands/store.js');
  return { run: m[name], help: m[`${name}Help`] };
}

async function supplyCommand(name: 'sbom' | 'referrers' | 'sign' | 'verify' | 'scan'): Promise<CommandModule> {
  const m = await import('./commands/supply.js');
  return { run: m[name], help: m[`${name}Help`] };
}

type RegistryVerb = 'push' | 'pull' | 'copy' | 'inspect' | 'digest' | 'tags' | 'catalog' | 'del' | 'login' | 'logout';

async function registryCommand(name: RegistryVerb, helpName: string = name): Promise<CommandModule> {
  const m = await import('./commands/registry.js');
  return { run: m[name], help: m[`${helpName}Help` as `${Exclude<RegistryVerb, 'del'> | 'delete'}Help`] };
}

type CraneVerb = 'append' | 'mutate' | 'flatten' | 'rebase' | 'tag' | 'export' | 'blob' | 'validate' | 'index';

/** The crane-style verbs: edits that push (commands/edit.ts) and content readers (commands/content.ts). */
async function craneCommand(name: CraneVerb): Promise<CommandModule> {
  if (name === 'export' || name === 'blob' || name === 'validate' || name === 'index') {
    const m = await import('./commands/content.js');
    return { run: name === 'export' ? m.exportCommand : m[name], help: m[`${name}Help`] };
  }
  const m = await import('./commands/edit.js');
  return { run: m[name], help: m[`${name}Help`] };
}

/** The command called `name`; an unknown name is a usage error that names the likely one. */
function commandNamed(name: string) {
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (entry) return entry;
  const near = closest(name, Object.keys(commands));
  throw usageError(
    `unknown command ${JSON.stringify(name)}`,
    near ? `did you mean gantry ${near}? (gantry --help lists the commands)` : 'run gantry --help to see the commands',
  );
}

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
${renderFlags(GLOBAL_FLAGS, 27)}

Exit codes: 0 success, 1 failure (store, files, internal), 2 usage, 3 authentication,
4 network (registry, proxy or URL unreachable, stalled, deadline passed), 5 build failed
(a RUN step failed, or the Dockerfile or context is invalid), 130 interrupted.
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

/** Takes the global flags (GLOBAL_FLAGS) out of argv, wherever they stand. */
export function splitGlobalFlags(argv: readonly string[]): { flags: GlobalFlags; rest: string[] } {
  const rest: string[] = [];
  const given = new Map<string, string | true>();
  // --help and --version are names of what to do, read by run().
  const globals = GLOBAL_FLAGS.filter((f) => f.name !== 'help' && f.name !== 'version');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const f = globals.find(
      (g) => a === `--${g.name}` || (g.short !== undefined && a === `-${g.short}`) || a.startsWith(`--${g.name}=`),
    );
    if (f === undefined) {
      rest.push(a);
      continue;
    }
    if (f.value === undefined) {
      given.set(f.name, true);
      continue;
    }
    if (a.startsWith(`--${f.name}=`)) {
      given.set(f.name, a.slice(f.name.length + 3));
      continue;
    }
    const v = argv[i + 1];
    if (v === undefined) throw usageError(`${a} needs a value`, `give ${a} ${f.value}`);
    given.set(f.name, v);
    i += 1;
  }
  const value = (name: string): string | undefined => {
    const v = given.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const on = (name: string): boolean => given.get(name) === true;
  const envProgress = process.env.GANTRY_PROGRESS ?? process.env.BUILDKIT_PROGRESS;
  const timeoutValue = value('timeout') ?? process.env.GANTRY_TIMEOUT;
  const timeoutMs = timeoutValue === undefined ? undefined : parseDuration(timeoutValue, '--timeout');
  const idleValue = value('idle-timeout') ?? process.env.GANTRY_IDLE_TIMEOUT;
  const idleTimeoutMs = idleValue === undefined ? undefined : parseDuration(idleValue, '--idle-timeout');
  const store = value('store');
  const username = value('username');
  const chunkSize = value('chunk-size');
  const kubeContext = value('kube-context');
  const terminationLog = value('termination-log');
  return {
    flags: {
      ...(store ? { store } : {}),
      debug: on('debug'),
      progress: parseProgressMode(value('progress') ?? envProgress),
      insecure: on('insecure'),
      plainHttp: on('plain-http'),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
      ...(username === undefined ? {} : { username }),
      passwordStdin: on('password-stdin'),
      ...(chunkSize === undefined ? {} : { chunkSize: parseSize(chunkSize, '--chunk-size') }),
      ...(kubeContext === undefined ? {} : { kubeContext }),
      logFormat: parseLogFormat(value('log-format') ?? process.env.GANTRY_LOG_FORMAT),
      ...(terminationLog === undefined ? {} : { terminationLog }),
    },
    rest,
  };
}

export interface RunIO {
  readonly stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly signal?: AbortSignal;
}

function describe(err: unknown, store: string | undefined): string {
  if (GantryError.is(err)) return err.oneLine();
  const system = explainSystemError(err, { store });
  if (system) return system.oneLine();
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

function errorObject(err: unknown): Record<string, unknown> {
  if (GantryError.is(err)) {
    return { code: err.code, message: err.message, ...(err.suggestion ? { suggestion: err.suggestion } : {}) };
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

/** The build metrics, at the end: one line (text) or one object (json); nothing when quiet. */
function printMetrics(
  collector: MetricsCollector,
  progress: string,
  json: boolean,
  stderr: NodeJS.WritableStream,
): void {
  const m = collector.finish();
  if (json) {
    stderr.write(jsonLogLine('info', 'metrics', { metrics: m }));
    return;
  }
  if (progress === 'quiet' || m.steps.length === 0) return;
  if (progress === 'json') {
    stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'metrics', metrics: m })}\n`);
    return;
  }
  stderr.write(
    `metrics: ${m.seconds.toFixed(1)}s, ${m.steps.length} steps (${m.cacheHits} cached), pulled ${formatBytes(m.bytesPulled)}, pushed ${formatBytes(m.bytesPushed)}, peak memory ${formatBytes(m.peakMemoryBytes)}\n`,
  );
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
  let storeDir: string | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  let jsonLogs = process.env.GANTRY_LOG_FORMAT === 'json';
  let terminationFlag: string | undefined;
  let reported: Record<string, unknown> | undefined;
  let metrics: MetricsCollector | undefined;
  // The termination log (Kubernetes' termination message) gets the outcome of every command.
  const finish = async (code: number, error?: unknown): Promise<number> => {
    const path = terminationLogPath(terminationFlag);
    if (path === undefined || (reported === undefined && error === undefined && metrics === undefined)) return code;
    const result: Record<string, unknown> = { status: code === 0 ? 'success' : 'failure', exitCode: code, ...reported };
    if (error !== undefined) result.error = errorObject(error);
    if (metrics) result.metrics = metrics.finish();
    const problem = await writeTerminationLog(path, result);
    if (problem) stderr.write(jsonLogs ? jsonLogLine('warn', problem) : `gantry: warning: ${problem}\n`);
    return code;
  };
  try {
    const { flags, rest } = splitGlobalFlags(argv);
    debug = flags.debug;
    const givenStore = flags.store ?? process.env.GANTRY_STORE;
    storeDir = givenStore ? resolve(givenStore) : undefined;
    jsonLogs = flags.logFormat === 'json';
    terminationFlag = flags.terminationLog;
    const [name, ...args] = rest;
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      const topic = name === 'help' ? args[0] : undefined;
      const cmd = topic === undefined ? undefined : commandNamed(topic);
      stdout.write(cmd ? (await cmd.load()).help : mainHelp());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === 'version') {
      stdout.write(`gantry ${version()}\n`);
      return 0;
    }
    const entry = commandNamed(name);
    const command = await entry.load();
    let password: Promise<string | undefined> | undefined;
    // The deadline is a timer this function owns until the command ends: AbortSignal.timeout()
    // combined by AbortSignal.any() is held only weakly and could be collected before it fired,
    // leaving --timeout without effect (issue 8 item 4).
    const deadline = new AbortController();
    const onInterrupt = () => deadline.abort(controller.signal.reason);
    controller.signal.addEventListener('abort', onInterrupt, { once: true });
    if (flags.timeoutMs !== undefined) {
      const ms = flags.timeoutMs;
      deadlineTimer = setTimeout(
        () => deadline.abort(new DOMException(`the deadline of ${ms} ms passed`, 'TimeoutError')),
        ms,
      );
    }
    const signal = flags.timeoutMs === undefined ? controller.signal : deadline.signal;
    const readPassword = () => {
      password ??= flags.passwordStdin ? readStdin() : Promise.resolve(undefined);
      return password;
    };
    const { createSession } = await import('../api/session.js');
    const session = createSession({
      ...(flags.store ? { store: flags.store } : {}),
      registry: {
        insecure: flags.insecure,
        plainHttp: flags.plainHttp,
        ...(flags.username === undefined ? {} : { username: flags.username }),
        password: readPassword,
        ...(flags.chunkSize === undefined ? {} : { chunkSize: flags.chunkSize }),
        ...(flags.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: flags.idleTimeoutMs }),
        ...(flags.kubeContext === undefined ? {} : { kubeContext: flags.kubeContext }),
      },
      signal,
    });
    const ctx: CommandContext = {
      flags,
      stdout,
      stderr,
      signal,
      session,
      store: () => session.store(),
      client: (progress) => session.client(progress),
      readPassword,
      renderer: () => {
        metrics ??= new MetricsCollector();
        const r = jsonLogs ? createJsonLogRenderer(stderr) : createRenderer(flags.progress, stderr);
        return { sink: metrics.wrap(r.sink), close: r.close };
      },
      report: (result) => {
        reported = { ...reported, ...result };
      },
    };
    timeoutMs = flags.timeoutMs;
    const code = await command.run(args, ctx);
    if (metrics && reported !== undefined) printMetrics(metrics, flags.progress, jsonLogs, stderr);
    return await finish(code);
  } catch (err) {
    if (timeoutMs !== undefined && !controller.signal.aborted && isTimeout(err)) {
      const message = `timed out after ${timeoutMs / 1000}s: raise --timeout or check the network`;
      stderr.write(jsonLogs ? jsonLogLine('error', message, { code: 'TIMEOUT' }) : `gantry: error: ${message}\n`);
      return await finish(EXIT.network, new GantryError('TIMEOUT', message, { phase: 'io' }));
    }
    if (isAbort(err) || controller.signal.aborted) {
      stderr.write(
        jsonLogs
          ? jsonLogLine('error', 'interrupted; nothing was written')
          : 'gantry: interrupted; nothing was written\n',
      );
      return await finish(EXIT.interrupted, err);
    }
    stderr.write(
      jsonLogs
        ? jsonLogLine('error', describe(err, storeDir), GantryError.is(err) ? { code: err.code } : {})
        : `gantry: error: ${describe(err, storeDir)}\n`,
    );
    if (debug && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
    return await finish(exitCodeFor(err), err);
  } finally {
    if (deadlineTimer) clearTimeout(deadlineTimer);
    if (isMain) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
