/**
 * The declared flag table of a command: each command states its flags once (name, short form,
 * value, help, group, how the value completes), and argument parsing (args.ts), the help text
 * (renderHelp) and shell completion (completion.ts) are all derived from it, so they never drift.
 */
import type { ParseArgsConfig } from 'node:util';

/**
 * How a flag's value (or a positional argument) completes in a shell: a fixed list of words,
 * file or directory paths, or nothing to offer (any text).
 */
export type Completion = readonly string[] | 'file' | 'dir' | 'none';

export interface FlagSpec {
  /** The long name, without dashes. */
  readonly name: string;
  /** The one-letter form, without the dash. */
  readonly short?: string;
  /** The value's placeholder in help (`NAME[:TAG]`); absent for a boolean flag. */
  readonly value?: string;
  /** The value may be left out (`--sbom`, `--sbom=false`): given only as `--flag=VALUE`. */
  readonly optionalValue?: boolean;
  /** Repeatable. */
  readonly multiple?: boolean;
  /** What it does; `\n` starts a continuation line. */
  readonly help: string;
  /** The left column instead of the one made from name, short and value. */
  readonly label?: string;
  /** Other spellings accepted (crane's `--new_tag` for `--new-tag`); read separately by the command. */
  readonly aliases?: readonly string[];
  /** How the value completes (default: nothing to offer). */
  readonly complete?: Completion;
}

export interface FlagGroup {
  /** The heading (`Dockerfile options`); `Options` when absent. */
  readonly title?: string;
  /** A paragraph printed before the heading. */
  readonly before?: string;
  readonly flags: readonly FlagSpec[];
}

export interface CommandSpec {
  readonly name: string;
  /** One line for `gantry --help`. */
  readonly summary: string;
  /** The usage lines and the description, printed before the flags. */
  readonly usage: string;
  readonly groups: readonly FlagGroup[];
  /** Printed after the flags. */
  readonly footer?: string;
  /** Words the first positional argument completes to (`index create|append`, `completion bash`). */
  readonly subcommands?: readonly string[];
  /** How positional arguments complete (default: nothing to offer). */
  readonly positional?: Completion;
  /** Another command whose table this one shares (`discover` is `referrers`). */
  readonly sameAs?: string;
  /** Hide `-h, --help` from the rendered text (the global table, where it is listed already). */
  readonly noHelpFlag?: boolean;
}

/** Every command takes `-h, --help`. */
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', help: 'print this help' };

/** Every flag of a command, `--help` included, in the order declared. */
export function flagsOf(spec: CommandSpec): FlagSpec[] {
  const flags = spec.groups.flatMap((g) => g.flags);
  return flags.some((f) => f.name === 'help') ? flags : [...flags, HELP_FLAG];
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs options for the flags that do not take an optional value. */
export function parseOptions(flags: readonly FlagSpec[]): OptionSpec {
  const options: OptionSpec = {};
  for (const f of flags) {
    if (f.optionalValue) continue;
    for (const name of [f.name, ...(f.aliases ?? [])]) {
      options[name] = {
        type: f.value === undefined ? 'boolean' : 'string',
        ...(f.multiple ? { multiple: true } : {}),
        ...(f.short && name === f.name ? { short: f.short } : {}),
      };
    }
  }
  return options;
}

/** The left column of a flag's help line. */
export function flagLabel(f: FlagSpec): string {
  if (f.label !== undefined) return f.label;
  const long = `--${f.name}${f.value === undefined ? '' : f.optionalValue ? `[=${f.value}]` : ` ${f.value}`}`;
  return f.short ? `-${f.short}, ${long}` : `    ${long}`;
}

function flagLines(f: FlagSpec, column: number): string[] {
  const label = `  ${flagLabel(f)}`;
  const aliases = f.aliases && f.aliases.length > 0 ? ` (also ${f.aliases.map((a) => `--${a}`).join(', ')})` : '';
  const [first = '', ...more] = `${f.help}${aliases}`.split('\n');
  const head = label.length <= column - 2 ? `${label.padEnd(column)}${first}` : `${label}  ${first}`;
  return [head, ...more.map((line) => `${' '.repeat(column)}${line}`)];
}

/** The flag lines of some flags, their descriptions aligned at one column. */
export function renderFlags(flags: readonly FlagSpec[], maxColumn = 27): string {
  const widest = Math.max(0, ...flags.map((f) => flagLabel(f).length + 2));
  const column = Math.min(widest + 2, maxColumn);
  return flags.flatMap((f) => flagLines(f, column)).join('\n');
}

/** The help text of a command, from its table. */
export function renderHelp(spec: CommandSpec): string {
  const all = flagsOf(spec);
  const widest = Math.max(0, ...all.map((f) => flagLabel(f).length + 2));
  const column = Math.min(widest + 2, 27);
  const parts: string[] = [spec.usage.replace(/\n+$/, '')];
  const declared = spec.groups.some((g) => g.flags.some((f) => f.name === 'help'));
  const groups: FlagGroup[] = [...spec.groups];
  if (!declared && !spec.noHelpFlag) {
    const last = groups.pop();
    groups.push(last === undefined ? { flags: [HELP_FLAG] } : { ...last, flags: [...last.flags, HELP_FLAG] });
  }
  for (const g of groups) {
    if (g.before !== undefined) parts.push(g.before.replace(/\n+$/, ''));
    const lines = g.flags.flatMap((f) => flagLines(f, column)).join('\n');
    parts.push(`${g.title ?? 'Options'}:\n${lines}`);
  }
  if (spec.footer !== undefined) parts.push(spec.footer.replace(/\n+$/, ''));
  return `${parts.join('\n\n')}\n`;
}
