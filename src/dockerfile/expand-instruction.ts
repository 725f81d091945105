/**
 * `expandInstruction`: BuildKit's rules for which arguments of which instruction are expanded
 * with the build's variables; and `planRun`, how a RUN instruction (heredocs included) runs.
 */
import { DockerfileExpansionError, ShellExpansionError } from './errors.js';
import { chompHeredoc, parseHeredocWord } from './heredoc.js';
import type { InlineFile, Instruction, RunInstruction } from './instruction-types.js';
import { type EnvLookup, type EscapeChar, processWord } from './shell.js';

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
