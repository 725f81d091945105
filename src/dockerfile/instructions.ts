/**
 * Typed Dockerfile instructions (a discriminated union on `kind`) checked the way BuildKit's
 * instructions package checks them (argument counts, flags and their values, stage names,
 * HEALTHCHECK durations), grouped into stages; and `expandInstruction`, which applies BuildKit's
 * rules for which arguments of which instruction are expanded with the build's variables.
 * Values that the builder expands (ENV and LABEL pairs, ARG defaults, COPY paths, ...) keep
 * their quotes and escapes until expandInstruction processes them, exactly once.
 */
import {
  DockerfileExpansionError,
  DockerfileSyntaxError,
  ShellExpansionError,
  type SyntaxErrorKind,
} from './errors.js';
import { FlagError, type FlagSpec, type ParsedFlags, parseFlags } from './flags.js';
import {
  chompHeredoc,
  filterWarnings,
  type Heredoc,
  locate,
  type Node,
  type ParseResult,
  parseHeredocWord,
  type SourceText,
  type Warning,
} from './parser.js';
import { type EnvLookup, type EscapeChar, processWord } from './shell.js';
import { type MountField, parseDuration, parseMountFields } from './values.js';

interface Base {
  /** First and last physical line of the instruction (1-based). */
  readonly line: number;
  readonly endLine: number;
  /** The instruction as written (continuations joined), for history and messages. */
  readonly original: string;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface ArgDefinition {
  readonly name: string;
  /** Undefined for `ARG NAME` without a default. */
  readonly default?: string;
}

/** A command in shell form (run through SHELL) or exec form (a JSON array, run as is). */
export type CommandLine =
  | { readonly kind: 'shell'; readonly script: string }
  | { readonly kind: 'exec'; readonly argv: readonly string[] };

/** A heredoc used as a COPY/ADD source: a file made from the instruction's text. */
export interface InlineFile {
  readonly name: string;
  /** The body, leading tabs already stripped for `<<-`. */
  readonly content: string;
  /** Whether the builder expands variables in the body (the delimiter was not quoted). */
  readonly expand: boolean;
}

export interface Mount {
  /** The `--mount` value as written. */
  readonly raw: string;
  readonly fields: readonly MountField[];
}

export interface FromInstruction extends Base {
  readonly kind: 'from';
  readonly image: string;
  readonly platform?: string;
  /** The stage name after AS, lowercased. */
  readonly as?: string;
}

export interface ArgInstruction extends Base {
  readonly kind: 'arg';
  readonly args: readonly ArgDefinition[];
}

export interface EnvInstruction extends Base {
  readonly kind: 'env';
  readonly pairs: readonly KeyValue[];
}

export interface LabelInstruction extends Base {
  readonly kind: 'label';
  readonly pairs: readonly KeyValue[];
}

export interface WorkdirInstruction extends Base {
  readonly kind: 'workdir';
  readonly path: string;
}

export interface UserInstruction extends Base {
  readonly kind: 'user';
  readonly user: string;
}

export interface CopyInstruction extends Base {
  readonly kind: 'copy';
  /** Source paths (heredoc sources are in `heredocs`). */
  readonly sources: readonly string[];
  readonly dest: string;
  /** A stage name or index, an image reference, or a named build context. */
  readonly from?: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  readonly heredocs: readonly InlineFile[];
}

export interface AddInstruction extends Base {
  readonly kind: 'add';
  readonly sources: readonly string[];
  readonly dest: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly exclude: readonly string[];
  /** Expected digest of a remote source (`sha256:...`). */
  readonly checksum?: string;
  /** For git sources: keep the .git directory. */
  readonly keepGitDir: boolean;
  /** `--unpack=true|false`; undefined means "archives from the context are unpacked, URLs are not". */
  readonly unpack?: boolean;
  readonly heredocs: readonly InlineFile[];
}

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

export interface RunInstruction extends Base {
  readonly kind: 'run';
  readonly command: CommandLine;
  /** Heredoc bodies as written (not chomped); see planRun for how they become the command. */
  readonly heredocs: readonly Heredoc[];
  readonly mounts: readonly Mount[];
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly devices: readonly string[];
}

export interface CmdInstruction extends Base {
  readonly kind: 'cmd';
  readonly command: CommandLine;
}

export interface EntrypointInstruction extends Base {
  readonly kind: 'entrypoint';
  readonly command: CommandLine;
}

export interface ExposeInstruction extends Base {
  readonly kind: 'expose';
  readonly ports: readonly string[];
}

export interface VolumeInstruction extends Base {
  readonly kind: 'volume';
  readonly paths: readonly string[];
}

export interface StopSignalInstruction extends Base {
  readonly kind: 'stopsignal';
  readonly signal: string;
}

/** HEALTHCHECK NONE, or CMD with its options; durations in nanoseconds as the image config stores them. */
export type HealthCheck =
  | { readonly type: 'none' }
  | {
      readonly type: 'cmd';
      /** The image config's Test: `['CMD', ...argv]` or `['CMD-SHELL', script]`. */
      readonly test: readonly string[];
      readonly interval?: number;
      readonly timeout?: number;
      readonly startPeriod?: number;
      readonly startInterval?: number;
      readonly retries?: number;
    };

export interface HealthcheckInstruction extends Base {
  readonly kind: 'healthcheck';
  readonly check: HealthCheck;
}

export interface ShellInstruction extends Base {
  readonly kind: 'shell';
  readonly shell: readonly string[];
}

export interface OnbuildInstruction extends Base {
  readonly kind: 'onbuild';
  /** The trigger's source text (heredoc bodies included), stored in the image config's OnBuild. */
  readonly trigger: string;
  /** The trigger's keyword, lowercased. */
  readonly keyword: string;
}

export interface MaintainerInstruction extends Base {
  readonly kind: 'maintainer';
  readonly maintainer: string;
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | WorkdirInstruction
  | UserInstruction
  | CopyInstruction
  | AddInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ExposeInstruction
  | VolumeInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | ShellInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

/** Every instruction that can follow FROM in a stage. */
export type StageInstruction = Exclude<Instruction, FromInstruction>;

export interface Stage {
  /** The AS name, lowercased; stages are also addressed by index. */
  readonly name?: string;
  readonly index: number;
  readonly from: FromInstruction;
  readonly instructions: readonly StageInstruction[];
}

export interface Instructions {
  readonly stages: readonly Stage[];
  /** ARGs before the first FROM: usable in FROM lines, and in a stage after `ARG NAME`. */
  readonly globalArgs: readonly ArgInstruction[];
  readonly warnings: readonly Warning[];
}

export interface InstructionOptions {
  /** Name used in error messages when `ast` is given without its ParseResult; default `Dockerfile`. */
  readonly file?: string;
}

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

class Converter {
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

function sourceOf(input: ParseResult | readonly Node[], file: string | undefined): SourceText {
  if (!Array.isArray(input)) return (input as ParseResult).source;
  // Without the original text, the logical lines stand in for the physical ones.
  const nodes = input as readonly Node[];
  const lines: string[] = [];
  for (const n of nodes) lines[n.startLine - 1] = n.original;
  return { file: file ?? 'Dockerfile', lines: Array.from(lines, (l) => l ?? '') };
}

/** Converts one syntax-tree node (an ONBUILD trigger, say) to a typed instruction. */
export function parseInstruction(node: Node, source?: SourceText): Instruction {
  return new Converter(source ?? sourceOf([node], undefined)).convert(node);
}

/**
 * Typed instructions grouped into stages. Only ARG may come before the first FROM; stage names
 * must be unique. Throws DockerfileSyntaxError.
 */
export function parseInstructions(
  input: ParseResult | readonly Node[],
  options: InstructionOptions = {},
): Instructions {
  const source = sourceOf(input, options.file);
  const nodes = Array.isArray(input) ? (input as readonly Node[]) : (input as ParseResult).ast;
  const converter = new Converter(source);
  const globalArgs: ArgInstruction[] = [];
  const stages: { name?: string; index: number; from: FromInstruction; instructions: StageInstruction[] }[] = [];
  const names = new Map<string, number>();
  for (const node of nodes) {
    const instr = converter.convert(node);
    if (instr.kind === 'from') {
      if (instr.as !== undefined) {
        if (names.has(instr.as)) {
          converter.fail(
            node,
            'stage',
            `duplicate stage name ${JSON.stringify(instr.as)}`,
            undefined,
            `rename one of the stages (the first is at line ${names.get(instr.as)})`,
          );
        }
        names.set(instr.as, node.startLine);
      }
      stages.push(
        instr.as === undefined
          ? { index: stages.length, from: instr, instructions: [] }
          : { name: instr.as, index: stages.length, from: instr, instructions: [] },
      );
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (instr.kind === 'arg') {
        globalArgs.push(instr);
        continue;
      }
      converter.fail(
        node,
        'stage',
        `${node.keyword.toUpperCase()} before the first FROM`,
        undefined,
        'start the build stage with FROM (only ARG may come before it)',
      );
      continue;
    }
    current.instructions.push(instr);
  }
  if (stages.length === 0) {
    const last = nodes[nodes.length - 1];
    if (!last)
      throw new DockerfileSyntaxError('stage', 'file with no instructions', {
        file: source.file,
        line: 1,
        column: 1,
        text: '',
      });
    converter.fail(
      last,
      'stage',
      'no build stage: the Dockerfile has no FROM',
      undefined,
      'add FROM image (or FROM scratch)',
    );
  }
  const check = Array.isArray(input) ? undefined : (input as ParseResult).directives.check;
  return { stages, globalArgs, warnings: filterWarnings(converter.warnings, check) };
}

/** Instructions whose arguments the builder expands (RUN, CMD, ENTRYPOINT, SHELL leave it to the shell). */
export const EXPANDED_INSTRUCTIONS: ReadonlySet<Instruction['kind']> = new Set([
  'from',
  'arg',
  'env',
  'label',
  'workdir',
  'user',
  'copy',
  'add',
  'expose',
  'volume',
  'stopsignal',
  'run', // only its --mount values
]);

export interface ExpandInstructionOptions {
  /** The escape directive of the Dockerfile; default `\`. */
  readonly escape?: EscapeChar;
  /** Filled with the variables the instruction read that were set. */
  readonly used?: Set<string>;
  /** Filled with the variables the instruction referenced that were unset. */
  readonly unset?: Set<string>;
  /** File name for error messages; default `Dockerfile`. */
  readonly file?: string;
}

/**
 * Expands an instruction's arguments with `env` as BuildKit does: FROM (image, --platform),
 * ARG (names, defaults), ENV and LABEL (keys, values), WORKDIR, USER, STOPSIGNAL, VOLUME, EXPOSE
 * (each port, split into words), COPY and ADD (sources, destination, --chown, --chmod, ADD's
 * --checksum, and the bodies of heredocs whose delimiter was not quoted), RUN's --mount values.
 * RUN/CMD/ENTRYPOINT commands, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER are left alone.
 * `COPY --from` is never expanded: a variable there is an error, as in BuildKit. Throws
 * DockerfileExpansionError. Apply it once: it removes quotes and escapes.
 */
export function expandInstruction<T extends Instruction>(
  instr: T,
  env: EnvLookup,
  options: ExpandInstructionOptions = {},
): T {
  const escape = options.escape ?? '\\';
  const file = options.file ?? 'Dockerfile';
  const record = (used: readonly string[], unset: readonly string[]): void => {
    for (const v of used) options.used?.add(v);
    for (const v of unset) options.unset?.add(v);
  };
  const run = <R>(fn: () => R): R => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ShellExpansionError) {
        throw new DockerfileExpansionError(err.message, file, instr.line, instr.original, { cause: err });
      }
      throw err;
    }
  };
  const word = (w: string): string =>
    run(() => {
      const r = processWord(w, env, { escape });
      record(r.usedVars, r.unsetVars);
      return r.value;
    });
  const words = (w: string): readonly string[] =>
    run(() => {
      const r = processWord(w, env, { escape });
      record(r.usedVars, r.unsetVars);
      return r.words;
    });
  const body = (f: InlineFile): InlineFile => {
    if (!f.expand) return f;
    // Heredoc bodies keep their quotes and always use `\`, whatever the escape directive.
    return run(() => {
      const r = processWord(f.content, env, { escape: '\\', skipQuotes: true });
      record(r.usedVars, r.unsetVars);
      return { ...f, content: r.value };
    });
  };
  const optional = (v: string | undefined): string | undefined => (v === undefined ? undefined : word(v));
  const set = <O extends object>(obj: O, key: string, value: unknown): O => {
    if (value !== undefined) (obj as Record<string, unknown>)[key] = value;
    return obj;
  };

  const i = instr as Instruction;
  let out: Instruction;
  switch (i.kind) {
    case 'from': {
      const { platform, ...rest } = i;
      out = set({ ...rest, image: word(i.image) }, 'platform', optional(platform));
      break;
    }
    case 'arg':
      out = {
        ...i,
        args: i.args.map((a) =>
          a.default === undefined ? { name: word(a.name) } : { name: word(a.name), default: word(a.default) },
        ),
      };
      break;
    case 'env':
    case 'label':
      out = { ...i, pairs: i.pairs.map((p) => ({ key: word(p.key), value: word(p.value) })) };
      break;
    case 'workdir':
      out = { ...i, path: word(i.path) };
      break;
    case 'user':
      out = { ...i, user: word(i.user) };
      break;
    case 'stopsignal':
      out = { ...i, signal: word(i.signal) };
      break;
    case 'volume':
      out = { ...i, paths: i.paths.map(word) };
      break;
    case 'expose':
      out = { ...i, ports: i.ports.flatMap((p) => words(p)) };
      break;
    case 'copy': {
      if (i.from !== undefined) {
        const literal = run(() => processWord(i.from as string, () => undefined, { escape }).value);
        if (literal !== i.from) {
          throw new DockerfileExpansionError(
            'variable expansion is not supported for --from',
            file,
            i.line,
            i.original,
            {
              suggestion: `define a stage with FROM using a global ARG (FROM \${IMAGE} AS src) and COPY --from=src`,
            },
          );
        }
      }
      const { chown, chmod, ...rest } = i;
      out = { ...rest, sources: i.sources.map(word), dest: word(i.dest), heredocs: i.heredocs.map(body) };
      set(out, 'chown', optional(chown));
      set(out, 'chmod', optional(chmod));
      break;
    }
    case 'add': {
      const { chown, chmod, checksum, ...rest } = i;
      out = { ...rest, sources: i.sources.map(word), dest: word(i.dest), heredocs: i.heredocs.map(body) };
      set(out, 'chown', optional(chown));
      set(out, 'chmod', optional(chmod));
      set(out, 'checksum', optional(checksum));
      break;
    }
    case 'run':
      if (i.mounts.length === 0) return instr;
      out = {
        ...i,
        mounts: i.mounts.map((m) => ({
          raw: m.raw,
          fields: m.fields.map((f) => (f.value === undefined ? f : { key: f.key, value: word(f.value) })),
        })),
      };
      break;
    default:
      out = i;
  }
  return out as T;
}

/** How a RUN instruction becomes a process, heredocs included (BuildKit's rules). */
export type RunPlan =
  /** Exec form: run argv as is. */
  | { readonly kind: 'exec'; readonly argv: readonly string[] }
  /** Run `script` with the stage's SHELL (e.g. `/bin/sh -c script`). */
  | { readonly kind: 'shell'; readonly script: string }
  /**
   * `RUN <<EOF` whose body starts with `#!`: write the body to a file (mode 0755) and execute
   * that file directly, without SHELL.
   */
  | { readonly kind: 'file'; readonly name: string; readonly content: string };

export function planRun(run: RunInstruction): RunPlan {
  if (run.command.kind === 'exec') return { kind: 'exec', argv: run.command.argv };
  const script = run.command.script;
  const first = run.heredocs[0];
  if (!first) return { kind: 'shell', script };
  if (parseHeredocWord(script)) {
    // `RUN <<EOF` alone: the body is the whole command.
    const content = first.chomp ? chompHeredoc(first.content) : first.content;
    if (content.startsWith('#!')) return { kind: 'file', name: first.name, content };
    return { kind: 'shell', script: content };
  }
  // `RUN cmd <<EOF ...`: hand the shell its heredocs back, bodies and delimiters included.
  let full = script;
  for (const h of run.heredocs) full += `\n${h.content}${h.name}`;
  return { kind: 'shell', script: full };
}
