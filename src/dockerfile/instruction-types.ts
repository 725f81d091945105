/** The typed instruction union (discriminated on `kind`), stages, and the values they carry. */
import type { Heredoc, Warning } from './syntax.js';
import type { MountField } from './values.js';

export interface Base {
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
