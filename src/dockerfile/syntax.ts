/** The Dockerfile syntax tree's types: nodes, heredocs, parser directives, warnings, parse results. */
import type { EscapeChar } from './shell.js';

/** A heredoc attached to an instruction: `<<EOF`, `<<-EOF` (chomp), `<<"EOF"` (no expansion). */
export interface Heredoc {
  readonly name: string;
  /** The body as written, each line with its line ending; leading tabs are kept even for `<<-`. */
  readonly content: string;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  readonly expand: boolean;
  /** True for `<<-`: leading tabs of the body lines are to be stripped. */
  readonly chomp: boolean;
}

export interface Node {
  /** The instruction keyword, lowercased. */
  readonly keyword: string;
  /** Leading `--name[=value]` words, quotes removed. */
  readonly flags: readonly string[];
  /**
   * The arguments as the keyword's line parser splits them: JSON array items; `name, value`
   * pairs for ENV and LABEL; words (quotes kept) for ARG; whitespace-separated words for FROM,
   * EXPOSE and the shell form of COPY, ADD and VOLUME; `type` then the command for HEALTHCHECK;
   * the whole argument text as one item for everything else.
   */
  readonly args: readonly string[];
  /** The argument text after the flags. */
  readonly rest: string;
  /** True when the arguments were a JSON array (exec form). */
  readonly json: boolean;
  readonly heredocs: readonly Heredoc[];
  /** ONBUILD's instruction. */
  readonly trigger?: Node;
  /** First and last physical line (1-based), heredoc bodies included. */
  readonly startLine: number;
  readonly endLine: number;
  /** The logical line: continuations joined, comments dropped, leading whitespace trimmed. */
  readonly original: string;
}

/** How BuildKit's linter is told to behave: `# check=skip=RuleA,RuleB;error=true`. */
export interface CheckDirective {
  readonly skipAll: boolean;
  readonly skip: readonly string[];
  readonly error: boolean;
}

export interface Directives {
  readonly escape: EscapeChar;
  readonly syntax?: string;
  readonly check?: CheckDirective;
}

export interface Warning {
  /** BuildKit's rule name, e.g. `NoEmptyContinuation`. */
  readonly code: string;
  readonly message: string;
  readonly line: number;
}

/** The file the tree came from, for positions in later errors. */
export interface SourceText {
  readonly file: string;
  readonly lines: readonly string[];
}

export interface ParseResult {
  readonly ast: readonly Node[];
  readonly directives: Directives;
  readonly warnings: readonly Warning[];
  readonly source: SourceText;
}

export interface ParseOptions {
  /** Name used in error messages; default `Dockerfile`. */
  readonly file?: string;
}
