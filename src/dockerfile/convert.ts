/**
 * Syntax-tree node -> typed instruction, checked the way BuildKit's instructions package checks
 * them: argument counts, flags and their values, stage names, HEALTHCHECK durations.
 */
import { DockerfileSyntaxError, type SyntaxErrorKind } from './errors.js';
import { FlagError, type FlagSpec, type ParsedFlags, parseFlags } from './flags.js';
import { chompHeredoc, parseHeredocWord } from './heredoc.js';
import type {
  AddInstruction,
  ArgDefinition,
  Base,
  CommandLine,
  CopyInstruction,
  HealthCheck,
  InlineFile,
  Instruction,
  KeyValue,
  Mount,
  NetworkMode,
  RunInstruction,
  SecurityMode,
} from './instruction-types.js';
import { locate } from './parser.js';
import type { Node, SourceText, Warning } from './syntax.js';
import { parseDuration, parseMountFields } from './values.js';

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);
const NETWORK_MODES = new Set<string>(['default', 'none', 'host']);
const SECURITY_MODES = new Set<string>(['sandbox', 'insecure']);
const MINIMUM_DURATION = 1_000_000; // 1ms, Docker's minimum for HEALTHCHECK durations

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  from: { platform: 'string' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' },
  add: {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    'keep-git-dir': 'bool',
    checksum: 'string',
    exclude: 'strings',
    unpack: 'bool',
  },
  run: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  healthcheck: {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  },
};

export class Converter {
  readonly #source: SourceText;
  readonly warnings: Warning[] = [];
  constructor(source: SourceText) {
    this.#source = source;
  }

  fail(node: Node, kind: SyntaxErrorKind, detail: string, needle?: string, suggestion?: string): never {
    throw new DockerfileSyntaxError(
      kind,
      detail,
      locate(this.#source, node.startLine, node.endLine, needle),
      suggestion,
    );
  }

  #flags(node: Node, name: string): ParsedFlags {
    try {
      return parseFlags(node.flags, FLAGS[name] ?? {}, name.toUpperCase());
    } catch (err) {
      if (err instanceof FlagError) {
        const flagName = err.flag.split('=')[0] ?? err.flag;
        this.fail(node, 'flag', err.message, flagName, err.suggestion);
      }
      throw err;
    }
  }

  #base(node: Node): Base {
    return { line: node.startLine, endLine: node.endLine, original: node.original.trim() };
  }

  #exactlyOne(node: Node, upper: string): string {
    if (node.args.length !== 1) this.fail(node, 'arguments', `${upper} requires exactly one argument`);
    return node.args[0] as string;
  }

  #command(node: Node, upper: string, allowEmptyExec: boolean): CommandLine {
    if (node.json) {
      if (node.args.length === 0 && !allowEmptyExec)
        this.fail(node, 'arguments', `${upper} requires at least one argument`);
      return { kind: 'exec', argv: node.args };
    }
    if (node.args.length === 0) this.fail(node, 'arguments', `${upper} requires at least one argument`);
    return { kind: 'shell', script: node.args.join(' ') };
  }

  #pairs(node: Node, upper: string): KeyValue[] {
    if (node.args.length === 0) this.fail(node, 'arguments', `${upper} requires at least one argument`);
    const pairs: KeyValue[] = [];
    for (let i = 0; i + 1 < node.args.length; i += 2) {
      const key = node.args[i] as string;
      if (key === '') this.fail(node, 'arguments', `${upper} names can not be blank`);
      pairs.push({ key, value: node.args[i + 1] as string });
    }
    return pairs;
  }

  #sourcesAndDest(node: Node, upper: string): { sources: string[]; dest: string; heredocs: InlineFile[] } {
    if (node.args.length < 2) {
      this.fail(
        node,
        'arguments',
        `${upper} requires at least two arguments, but only ${node.args.length === 0 ? 'none' : 'one'} was provided`,
        undefined,
        'name the source(s) and then the destination',
      );
    }
    const dest = node.args[node.args.length - 1] as string;
    if (parseHeredocWord(dest)) this.fail(node, 'arguments', `${upper} cannot accept a heredoc as a destination`, dest);
    const sources: string[] = [];
    const heredocs: InlineFile[] = [];
    const byName = new Map(node.heredocs.map((h) => [h.name, h]));
    for (const src of node.args.slice(0, -1)) {
      const h = node.json ? undefined : parseHeredocWord(src);
      const body = h ? byName.get(h.name) : undefined;
      if (h && body) {
        heredocs.push({ name: h.name, content: h.chomp ? chompHeredoc(body.content) : body.content, expand: h.expand });
      } else {
        sources.push(src);
      }
    }
    return { sources, dest, heredocs };
  }

  #duration(node: Node, flags: ParsedFlags, name: string): number | undefined {
    const text = flags.strings.get(name);
    if (text === undefined || text === '') return undefined;
    const ns = parseDuration(text);
    if (typeof ns === 'string')
      this.fail(node, 'flag', `--${name}: ${ns}`, `--${name}`, 'write a duration such as 30s, 1m30s or 500ms');
    if (ns === 0) return undefined;
    if (ns < MINIMUM_DURATION) this.fail(node, 'flag', `--${name} cannot be less than 1ms`, `--${name}`);
    return ns;
  }

  #healthcheck(node: Node): HealthCheck {
    if (node.args.length === 0) this.fail(node, 'arguments', 'HEALTHCHECK requires at least one argument');
    const type = (node.args[0] as string).toUpperCase();
    const args = node.args.slice(1);
    if (type === 'NONE') {
      if (args.length !== 0) this.fail(node, 'arguments', 'HEALTHCHECK NONE takes no arguments');
      if (node.flags.length !== 0)
        this.fail(node, 'flag', 'HEALTHCHECK NONE takes no flags', node.flags[0]?.split('=')[0]);
      return { type: 'none' };
    }
    const flags = this.#flags(node, 'healthcheck');
    if (type !== 'CMD') {
      this.fail(
        node,
        'arguments',
        `unknown type ${JSON.stringify(type)} in HEALTHCHECK`,
        node.args[0],
        'use HEALTHCHECK CMD ... or HEALTHCHECK NONE',
      );
    }
    if (args.length === 0) this.fail(node, 'arguments', 'missing command after HEALTHCHECK CMD');
    const test = node.json ? ['CMD', ...args] : ['CMD-SHELL', args.join(' ')];
    const check: {
      type: 'cmd';
      test: string[];
      interval?: number;
      timeout?: number;
      startPeriod?: number;
      startInterval?: number;
      retries?: number;
    } = { type: 'cmd', test };
    const interval = this.#duration(node, flags, 'interval');
    const timeout = this.#duration(node, flags, 'timeout');
    const startPeriod = this.#duration(node, flags, 'start-period');
    const startInterval = this.#duration(node, flags, 'start-interval');
    if (interval !== undefined) check.interval = interval;
    if (timeout !== undefined) check.timeout = timeout;
    if (startPeriod !== undefined) check.startPeriod = startPeriod;
    if (startInterval !== undefined) check.startInterval = startInterval;
    const retries = flags.strings.get('retries');
    if (retries !== undefined && retries !== '') {
      if (!/^[+-]?[0-9]+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1) {
        this.fail(node, 'flag', `--retries: invalid number ${JSON.stringify(retries)}`, '--retries');
      }
      const n = Number(retries);
      if (n < 0) this.fail(node, 'flag', `--retries cannot be negative (${n})`, '--retries');
      check.retries = n;
    }
    return check;
  }

  #mounts(values: readonly string[]): Mount[] {
    return values.map((raw) => ({ raw, fields: parseMountFields(raw) }));
  }

  convert(node: Node): Instruction {
    const base = this.#base(node);
    const upper = node.keyword.toUpperCase();
    const noFlags = (): void => {
      this.#flags(node, node.keyword);
    };
    switch (node.keyword) {
      case 'from': {
        const flags = this.#flags(node, 'from');
        const args = node.args;
        let as: string | undefined;
        if (args.length === 3 && (args[1] as string).toLowerCase() === 'as') {
          const written = args[2] as string;
          as = written.toLowerCase();
          if (!STAGE_NAME.test(as)) {
            this.fail(
              node,
              'stage',
              `invalid name for build stage: ${JSON.stringify(written)}, name can't start with a number or contain symbols`,
              written,
            );
          }
          if (as !== written) {
            this.warnings.push({
              code: 'StageNameCasing',
              message: `Stage name '${written}' should be lowercase`,
              line: node.startLine,
            });
          }
          if (RESERVED_STAGE_NAMES.has(as)) {
            this.warnings.push({
              code: 'ReservedStageName',
              message: `Stage name should not use the same name as reserved stage "${as}"`,
              line: node.startLine,
            });
          }
        } else if (args.length !== 1) {
          this.fail(
            node,
            'arguments',
            'FROM requires either one or three arguments',
            undefined,
            'write FROM image[:tag] [AS name]',
          );
        }
        const from: { kind: 'from'; image: string; platform?: string; as?: string } & Base = {
          kind: 'from',
          ...base,
          image: args[0] as string,
        };
        const platform = flags.strings.get('platform');
        if (platform !== undefined) from.platform = platform;
        if (as !== undefined) from.as = as;
        return from;
      }
      case 'arg': {
        noFlags();
        if (node.args.length === 0) this.fail(node, 'arguments', 'ARG requires at least one argument');
        const args = node.args.map((word): ArgDefinition => {
          const eq = word.indexOf('=');
          if (eq < 0) return { name: word };
          if (eq === 0) this.fail(node, 'arguments', 'ARG names can not be blank');
          return { name: word.slice(0, eq), default: word.slice(eq + 1) };
        });
        return { kind: 'arg', ...base, args };
      }
      case 'env':
        noFlags();
        return { kind: 'env', ...base, pairs: this.#pairs(node, upper) };
      case 'label':
        noFlags();
        return { kind: 'label', ...base, pairs: this.#pairs(node, upper) };
      case 'workdir':
        noFlags();
        return { kind: 'workdir', ...base, path: this.#exactlyOne(node, upper) };
      case 'user':
        noFlags();
        return { kind: 'user', ...base, user: this.#exactlyOne(node, upper) };
      case 'stopsignal':
        noFlags();
        return { kind: 'stopsignal', ...base, signal: this.#exactlyOne(node, upper) };
      case 'maintainer':
        noFlags();
        this.warnings.push({
          code: 'MaintainerDeprecated',
          message: 'Maintainer instruction is deprecated in favor of using label',
          line: node.startLine,
        });
        return { kind: 'maintainer', ...base, maintainer: this.#exactlyOne(node, upper) };
      case 'copy': {
        const flags = this.#flags(node, 'copy');
        const sd = this.#sourcesAndDest(node, upper);
        const copy: CopyInstruction & { from?: string; chown?: string; chmod?: string } = {
          kind: 'copy',
          ...base,
          sources: sd.sources,
          dest: sd.dest,
          link: flags.bools.get('link') ?? false,
          parents: flags.bools.get('parents') ?? false,
          exclude: flags.lists.get('exclude') ?? [],
          heredocs: sd.heredocs,
        };
        const from = flags.strings.get('from');
        const chown = flags.strings.get('chown');
        const chmod = flags.strings.get('chmod');
        if (from !== undefined && from !== '') copy.from = from;
        if (chown !== undefined && chown !== '') copy.chown = chown;
        if (chmod !== undefined && chmod !== '') copy.chmod = chmod;
        return copy;
      }
      case 'add': {
        const flags = this.#flags(node, 'add');
        const sd = this.#sourcesAndDest(node, upper);
        const add: AddInstruction & { chown?: string; chmod?: string; checksum?: string; unpack?: boolean } = {
          kind: 'add',
          ...base,
          sources: sd.sources,
          dest: sd.dest,
          link: flags.bools.get('link') ?? false,
          exclude: flags.lists.get('exclude') ?? [],
          keepGitDir: flags.bools.get('keep-git-dir') ?? false,
          heredocs: sd.heredocs,
        };
        const chown = flags.strings.get('chown');
        const chmod = flags.strings.get('chmod');
        const checksum = flags.strings.get('checksum');
        const unpack = flags.bools.get('unpack');
        if (chown !== undefined && chown !== '') add.chown = chown;
        if (chmod !== undefined && chmod !== '') add.chmod = chmod;
        if (checksum !== undefined && checksum !== '') add.checksum = checksum;
        if (unpack !== undefined) add.unpack = unpack;
        return add;
      }
      case 'run': {
        const flags = this.#flags(node, 'run');
        const run: RunInstruction & { network?: NetworkMode; security?: SecurityMode } = {
          kind: 'run',
          ...base,
          command: this.#command(node, upper, false),
          heredocs: node.heredocs,
          mounts: this.#mounts(flags.lists.get('mount') ?? []),
          devices: flags.lists.get('device') ?? [],
        };
        const network = flags.strings.get('network');
        if (network !== undefined) {
          if (!NETWORK_MODES.has(network)) {
            this.fail(
              node,
              'flag',
              `unsupported network mode ${JSON.stringify(network)}`,
              '--network',
              'use --network=default, none or host',
            );
          }
          run.network = network as NetworkMode;
        }
        const security = flags.strings.get('security');
        if (security !== undefined) {
          if (!SECURITY_MODES.has(security)) {
            this.fail(
              node,
              'flag',
              `unsupported security mode ${JSON.stringify(security)}`,
              '--security',
              'use --security=sandbox or insecure',
            );
          }
          run.security = security as SecurityMode;
        }
        return run;
      }
      case 'cmd':
      case 'entrypoint': {
        noFlags();
        const command = this.#command(node, upper, true);
        if (command.kind === 'shell') {
          this.warnings.push({
            code: 'JSONArgsRecommended',
            message: `JSON arguments recommended for ${upper} to prevent unintended behavior related to OS signals`,
            line: node.startLine,
          });
        }
        return node.keyword === 'cmd' ? { kind: 'cmd', ...base, command } : { kind: 'entrypoint', ...base, command };
      }
      case 'expose':
        noFlags();
        if (node.args.length === 0) this.fail(node, 'arguments', 'EXPOSE requires at least one argument');
        return { kind: 'expose', ...base, ports: node.args };
      case 'volume': {
        noFlags();
        if (node.args.length === 0) this.fail(node, 'arguments', 'VOLUME requires at least one argument');
        const paths = node.args.map((p) => p.trim());
        if (paths.some((p) => p === '')) this.fail(node, 'arguments', 'VOLUME specified can not be an empty string');
        return { kind: 'volume', ...base, paths };
      }
      case 'healthcheck':
        return { kind: 'healthcheck', ...base, check: this.#healthcheck(node) };
      case 'shell':
        noFlags();
        if (!node.json) {
          this.fail(
            node,
            'arguments',
            'SHELL requires the arguments to be in JSON form',
            undefined,
            'write SHELL ["/bin/bash", "-c"]',
          );
        }
        if (node.args.length === 0) this.fail(node, 'arguments', 'SHELL requires at least one argument');
        return { kind: 'shell', ...base, shell: node.args };
      case 'onbuild': {
        noFlags();
        const trigger = node.trigger;
        if (!trigger) this.fail(node, 'arguments', 'ONBUILD requires at least one argument');
        if (trigger.keyword === 'onbuild')
          this.fail(node, 'arguments', "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (trigger.keyword === 'from' || trigger.keyword === 'maintainer') {
          this.fail(node, 'arguments', `${trigger.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
        }
        let text = node.original.replace(/^\s*onbuild\s*/i, '');
        for (const h of node.heredocs) text += `\n${h.content}${h.name}`;
        return { kind: 'onbuild', ...base, trigger: text, keyword: trigger.keyword };
      }
    }
    return this.fail(
      node,
      'unknown-instruction',
      `unknown instruction ${JSON.stringify(node.keyword.toUpperCase())}`,
      undefined,
    );
  }
}
