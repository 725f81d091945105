/**
 * The Dockerfile front end's pure half: parser (syntax tree, directives, heredocs), shell-word
 * expansion, typed instructions grouped into stages. No I/O; imports nothing of ours but errors.
 */

export { filterWarnings } from './directives.js';
export {
  DockerfileExpansionError,
  DockerfileSyntaxError,
  ShellExpansionError,
  type SourcePosition,
  type SyntaxErrorKind,
} from './errors.js';
export {
  type AddInstruction,
  type ArgDefinition,
  type ArgInstruction,
  type CmdInstruction,
  type CommandLine,
  type CopyInstruction,
  type EntrypointInstruction,
  type EnvInstruction,
  EXPANDED_INSTRUCTIONS,
  type ExpandInstructionOptions,
  type ExposeInstruction,
  expandInstruction,
  type FromInstruction,
  type HealthCheck,
  type HealthcheckInstruction,
  type InlineFile,
  type Instruction,
  type InstructionOptions,
  type Instructions,
  type KeyValue,
  type LabelInstruction,
  type MaintainerInstruction,
  type Mount,
  type NetworkMode,
  type OnbuildInstruction,
  parseInstruction,
  parseInstructions,
  planRun,
  type RunInstruction,
  type RunPlan,
  type SecurityMode,
  type ShellInstruction,
  type Stage,
  type StageInstruction,
  type StopSignalInstruction,
  type UserInstruction,
  type VolumeInstruction,
  type WorkdirInstruction,
} from './instructions.js';
export { baseImages, type LintOptions, lint } from './lint.js';
export {
  type CheckDirective,
  chompHeredoc,
  type Directives,
  type Heredoc,
  INSTRUCTIONS,
  type Node,
  type ParseOptions,
  type ParseResult,
  parse,
  parseHeredocWord,
  type SourceText,
  type Warning,
} from './parser.js';
export {
  type EnvLookup,
  type EscapeChar,
  type Expansion,
  envLookup,
  expand,
  expandWords,
  processWord,
  type ShellOptions,
} from './shell.js';
export { type MountField, parseDuration } from './values.js';
