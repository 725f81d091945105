/**
 * Stages and ARGs: the global scope (predefined platform args, ARGs before the first FROM with
 * --build-arg overrides), naming a stage by name or index, the stages a target needs (through
 * FROM, COPY --from and RUN --mount from=), and ARG inside a stage.
 */
import { type ArgInstruction, expandInstruction, type Stage } from '../../dockerfile/index.js';
import { formatPlatform, hostPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import { addHistory, chainMeta, type Dispatch } from './state.js';

function platformArgs(prefix: 'BUILD' | 'TARGET', p: Platform): [string, string][] {
  return [
    [`${prefix}PLATFORM`, formatPlatform(p)],
    [`${prefix}OS`, p.os],
    [`${prefix}ARCH`, p.architecture],
    [`${prefix}VARIANT`, p.variant ?? ''],
  ];
}

/** The global scope: predefined platform args, then ARGs before FROM with build-arg overrides. */
export function globalScope(
  globalArgs: readonly ArgInstruction[],
  buildArgs: Readonly<Record<string, string>>,
  platform: Platform,
  escape: '\\' | '`',
): Map<string, string | undefined> {
  const global = new Map<string, string | undefined>();
  for (const [k, v] of [...platformArgs('BUILD', hostPlatform()), ...platformArgs('TARGET', platform)])
    global.set(k, v);
  for (const raw of globalArgs) {
    // Defaults keep their quotes until expanded, against the global ARGs before them.
    const instr = expandInstruction(raw, (n) => global.get(n), { escape });
    for (const def of instr.args) global.set(def.name, buildArgs[def.name] ?? def.default);
  }
  return global;
}

/** A word of a FROM line expanded against the global scope. */
export function expandGlobal(
  word: string,
  global: ReadonlyMap<string, string | undefined>,
  escape: '\\' | '`',
): string {
  const expanded = expandInstruction(
    { kind: 'from', image: word, line: 0, endLine: 0, original: word },
    (n) => global.get(n),
    { escape },
  );
  return expanded.image;
}

/** The stage a name (case-insensitive) or an index names. */
export function stageIndexOf(stages: readonly Stage[], nameOrIndex: string): number | undefined {
  const lower = nameOrIndex.toLowerCase();
  const byName = stages.find((s) => s.name === lower);
  if (byName) return byName.index;
  if (/^\d+$/.test(nameOrIndex)) {
    const i = Number(nameOrIndex);
    if (i < stages.length) return i;
  }
  return undefined;
}

export const stageIndex = stageIndexOf;

/** The stages the target needs, through FROM, COPY --from and RUN --mount from=, in order. */
export function neededStages(
  stages: readonly Stage[],
  target: number,
  expand: (word: string) => string,
  named: (name: string) => boolean = () => false,
): number[] {
  const seen = new Set<number>();
  const stageIndex = (all: readonly Stage[], name: string) => (named(name) ? undefined : stageIndexOf(all, name));
  const visit = (i: number) => {
    if (seen.has(i)) return;
    seen.add(i);
    const stage = stages[i] as Stage;
    const b = stageIndex(stages, expand(stage.from.image));
    if (b !== undefined && b < i) visit(b);
    for (const instr of stage.instructions) {
      if (instr.kind === 'copy' && instr.from !== undefined) {
        const s = stageIndex(stages, instr.from);
        if (s !== undefined && s < i) visit(s);
      }
      if (instr.kind === 'run') {
        for (const m of instr.mounts) {
          const from = m.fields.find((f) => f.key === 'from')?.value;
          const s = from === undefined ? undefined : stageIndex(stages, from);
          if (s !== undefined && s < i) visit(s);
        }
      }
    }
  };
  visit(target);
  return [...seen].sort((a, b) => a - b);
}

/** ARG in a stage: the value from --build-arg, else the default, else the global ARG of that name. */
export function arg(d: Dispatch, instr: ArgInstruction): void {
  const { state } = d;
  const shown: string[] = [];
  for (const def of instr.args) {
    const value = d.build.buildArgs[def.name] ?? def.default ?? d.build.global.get(def.name);
    state.args.set(def.name, value);
    shown.push(value === undefined ? def.name : `${def.name}=${value}`);
  }
  addHistory(d, `ARG ${shown.join(' ')}`, true);
  chainMeta(state, `ARG ${[...state.args].map(([k, v]) => `${k}=${v ?? ''}`).join(' ')}`);
}
