/** The global flags (any command takes them, anywhere on the line), and the tables of info and completion. */
import type { CommandSpec, FlagSpec } from '../flags.js';
import { PROGRESS_MODES } from './build.js';

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  {
    name: 'store',
    value: 'DIR',
    complete: 'dir',
    help: 'the image store (default $GANTRY_STORE or $XDG_DATA_HOME/gantry/store)',
  },
  { name: 'progress', value: 'MODE', complete: PROGRESS_MODES, help: 'auto, tty, plain, json or quiet' },
  { name: 'insecure', help: 'skip TLS verification of registries' },
  { name: 'plain-http', help: 'talk plain HTTP to registries' },
  {
    name: 'chunk-size',
    value: 'SIZE',
    help: 'upload blobs in chunks of SIZE (e.g. 5M); default: one request, chunks on 413',
  },
  {
    name: 'kube-context',
    value: 'CTX',
    help: 'kubeconfig context for idpbuilder discovery (default: the current one)',
  },
  {
    name: 'timeout',
    value: 'DURATION',
    help: 'overall deadline of the command, e.g. 10m (default none; $GANTRY_TIMEOUT)',
  },
  {
    name: 'idle-timeout',
    value: 'DURATION',
    help: 'retry or resume a transfer that receives nothing for this long\n(default 60s; 0 never; $GANTRY_IDLE_TIMEOUT)',
  },
  { name: 'username', short: 'u', value: 'U', help: 'registry user (with --password-stdin)' },
  { name: 'password-stdin', help: 'read the registry password from stdin' },
  {
    name: 'log-format',
    value: 'FMT',
    complete: ['text', 'json'],
    help: `text (default) or json: one object per line (time, level, step,
message) on stderr, for log collectors; $GANTRY_LOG_FORMAT`,
  },
  {
    name: 'termination-log',
    value: 'PATH',
    complete: 'file',
    help: `write the result (digest, references, metrics) or the error as
JSON to PATH (default /dev/termination-log when it exists, as in a
Kubernetes pod; $GANTRY_TERMINATION_LOG)`,
  },
  { name: 'debug', help: 'print stack traces' },
  { name: 'version', help: 'print the version' },
  { name: 'help', short: 'h', help: 'help for gantry or a command' },
];

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'show what this machine gives gantry (sandbox, snapshotter, platforms, store)',
  usage: `Usage: gantry info [--format text|json]

Show what this machine gives gantry: the sandbox RUN steps get and why, the snapshotter and why,
how extended attributes are read, user namespaces, the platforms RUN can execute (natively or
through qemu-user), the store and its size, and the configuration files read.`,
  groups: [
    { flags: [{ name: 'format', value: 'FORMAT', complete: ['text', 'json'], help: 'text (default) or json' }] },
  ],
};

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

export const completionSpec: CommandSpec = {
  name: 'completion',
  summary: 'print the shell completion script for bash, zsh or fish',
  usage: `Usage: gantry completion bash|zsh|fish

Print a script that completes gantry's commands, flags and flag values (and paths where a flag
takes one) in the shell. Install it:
  bash: gantry completion bash > ~/.local/share/bash-completion/completions/gantry
        (or add  source <(gantry completion bash)  to ~/.bashrc)
  zsh:  gantry completion zsh > "\${fpath[1]}/_gantry"   (then start a new shell; needs compinit)
  fish: gantry completion fish > ~/.config/fish/completions/gantry.fish`,
  subcommands: SHELLS,
  groups: [],
};

/** Global flags by name, to list in a command's help where they apply (parsing takes them anywhere). */
export function globalFlags(...names: readonly string[]): FlagSpec[] {
  return names.map((name) => {
    const f = GLOBAL_FLAGS.find((g) => g.name === name);
    if (f === undefined) throw new Error(`no global flag --${name}`);
    return f;
  });
}
