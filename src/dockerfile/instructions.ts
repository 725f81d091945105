/**
 * Typed Dockerfile instructions (a discriminated union on `kind`) checked the way BuildKit's
 * instructions package checks them (argument counts, flags and their values, stage names,
 * HEALTHCHECK durations), grouped into stages; and `expandInstruction`, which applies BuildKit's
 * rules for which arguments of which instruction are expanded with the build's variables.
 * Values that the builder expands (ENV and LABEL pairs, ARG defaults, COPY paths, ...) keep
 * their quotes and escapes until expandInstruction processes them, exactly once.
 */
import { Converter } from './convert.js';
import { DockerfileSyntaxError } from './errors.js';
import type {
  ArgInstruction,
  FromInstruction,
  Instruction,
  InstructionOptions,
  Instructions,
  StageInstruction,
} from './instruction-types.js';
import { filterWarnings, type Node, type ParseResult, type SourceText } from './parser.js';

export {
  EXPANDED_INSTRUCTIONS,
  type ExpandInstructionOptions,
  expandInstruction,
  planRun,
  type RunPlan,
} from './expand-instruction.js';
export type {
  AddInstruction,
  ArgDefinition,
  ArgInstruction,
  CmdInstruction,
  CommandLine,
  CopyInstruction,
  EntrypointInstruction,
  EnvInstruction,
  ExposeInstruction,
  FromInstruction,
  HealthCheck,
  HealthcheckInstruction,
  InlineFile,
  Instruction,
  InstructionOptions,
  Instructions,
  KeyValue,
  LabelInstruction,
  MaintainerInstruction,
  Mount,
  NetworkMode,
  OnbuildInstruction,
  RunInstruction,
  SecurityMode,
  ShellInstruction,
  Stage,
  StageInstruction,
  StopSignalInstruction,
  UserInstruction,
  VolumeInstruction,
  WorkdirInstruction,
} from './instruction-types.js';

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
