/**
 * The build checks BuildKit documents (`docker build --check`), over the syntax tree: the rules
 * the parser and converter do not already report (NoEmptyContinuation, LegacyKeyValueFormat,
 * StageNameCasing, ReservedStageName, MaintainerDeprecated, JSONArgsRecommended are theirs).
 * Pure: what needs the build context (CopyIgnoredFile) takes a predicate, and the rule that needs
 * the base image (InvalidBaseImagePlatform) is reported by the front end when it resolves it.
 * Messages follow BuildKit's wording.
 */
import { filterWarnings } from './directives.js';
import type { Node, ParseResult, Warning } from './syntax.js';

export interface LintOptions {
  /** Whether a context path (relative, '/'-separated) is excluded by .dockerignore. */
  readonly ignored?: (path: string) => boolean;
  /**
   * The ENV names a base image sets (FROM's name with the global ARGs applied), when it is known:
   * what the base defines is not an undefined variable. Unknown bases fall back to common names.
   */
  readonly baseEnv?: (image: string) => ReadonlySet<string> | undefined;
  /** Build args given to the build (`--build-arg`): they override global ARG defaults in FROM. */
  readonly buildArgs?: Readonly<Record<string, string>>;
}

/** Build args every build has without an ARG (BuildKit's predefined args). */
const PREDEFINED = new Set([
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
  'TARGETVARIANT',
  'TARGETSTAGE',
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
  'BUILDKIT_SYNTAX',
]);

/** Variables a base image sets that the linter cannot see without pulling it. */
const COMMON_ENV = new Set(['PATH', 'HOME', 'HOSTNAME', 'TERM', 'LANG', 'PWD', 'USER', 'SHELL']);

/** Instructions whose arguments the builder expands (RUN, CMD, ... are left to the shell). */
const EXPANDED = new Set(['add', 'copy', 'env', 'expose', 'label', 'stopsignal', 'user', 'volume', 'workdir', 'arg']);

const SECRET =
  /(?:^|[^a-zA-Z])(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:[^a-zA-Z]|$)/i;
const SECRET_ALLOWED = /(?:_|^)(?:public)(?:_|$)/i;

const VARIABLE = /(\\*)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+?][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Variables a word refers to (`$X`, `${X}`, `${X:-d}`), skipping escaped `\$`. */
function variables(text: string): { name: string; hasDefault: boolean }[] {
  const out: { name: string; hasDefault: boolean }[] = [];
  for (const m of text.matchAll(VARIABLE)) {
    if ((m[1] ?? '').length % 2 === 1) continue;
    const name = (m[2] ?? m[3]) as string;
    out.push({
      name,
      hasDefault: m[2] !== undefined && /^\$\{[A-Za-z0-9_]+:?[-+]/.test(m[0].slice(m[1]?.length ?? 0)),
    });
  }
  return out;
}

/** The keyword as written (the first word of the logical line). */
function written(node: Node): string {
  return node.original.trimStart().split(/\s/, 1)[0] ?? node.keyword;
}

function isUpper(word: string): boolean {
  return word === word.toUpperCase();
}

function substitute(text: string, values: ReadonlyMap<string, string | undefined>): string {
  return text.replace(VARIABLE, (all, slashes: string, braced?: string, bare?: string) => {
    if (slashes.length % 2 === 1) return all;
    const name = (braced ?? bare) as string;
    const m = /^\$\{[A-Za-z0-9_]+(:?)-([^}]*)\}$/.exec(all.slice(slashes.length));
    const v = values.get(name);
    if (m) return slashes + ((m[1] ? v || undefined : v) ?? m[2]);
    return slashes + (v ?? '');
  });
}

const IMAGE_NAME =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/i;

/** The global ARGs' values (defaults, overridden by build args) that FROM lines see. */
function globalArgs(parsed: ParseResult, buildArgs: Readonly<Record<string, string>>): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const n of parsed.ast) {
    if (n.keyword === 'from') break;
    if (n.keyword !== 'arg') continue;
    for (const word of n.args) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      out.set(name, buildArgs[name] ?? (eq < 0 ? undefined : word.slice(eq + 1).replace(/^"(.*)"$/, '$1')));
    }
  }
  return out;
}

/** The images FROM lines name (not earlier stages, not scratch), with the global ARGs applied. */
export function baseImages(parsed: ParseResult, buildArgs: Readonly<Record<string, string>> = {}): string[] {
  const globals = globalArgs(parsed, buildArgs);
  const stages = new Set<string>();
  const out = new Set<string>();
  for (const n of parsed.ast) {
    if (n.keyword !== 'from') continue;
    const image = substitute(n.args[0] ?? '', globals);
    if (!stages.has(image.toLowerCase()) && image.toLowerCase() !== 'scratch' && image !== '') out.add(image);
    if (n.args.length === 3) stages.add((n.args[2] as string).toLowerCase());
  }
  return [...out];
}

/** Runs the checks and drops what `# check=skip=` turns off. */
export function lint(parsed: ParseResult, options: LintOptions = {}): Warning[] {
  const warnings: Warning[] = [];
  const warn = (code: string, message: string, line: number) => warnings.push({ code, message, line });
  const nodes = parsed.ast;

  // ConsistentInstructionCasing: the majority casing wins; mixed-case words always differ.
  let upper = 0;
  let lower = 0;
  for (const n of nodes) {
    const w = written(n);
    if (isUpper(w)) upper++;
    else if (w === w.toLowerCase()) lower++;
  }
  const majority = upper >= lower ? 'uppercase' : 'lowercase';
  for (const n of nodes) {
    const w = written(n);
    const fits = majority === 'uppercase' ? isUpper(w) : w === w.toLowerCase();
    if (!fits)
      warn(
        'ConsistentInstructionCasing',
        `Command '${w}' should match the case of the command majority (${majority})`,
        n.startLine,
      );
  }

  const globals = new Map<string, string | undefined>();
  const stageNames = new Map<string, number>();
  const stageEnv = new Map<string, Set<string>>();
  let inStage = false;
  let stageVars = new Set<string>();
  let counts = new Map<string, number[]>();
  const flushCounts = () => {
    for (const [kw, lines] of counts) {
      if (lines.length < 2) continue;
      for (const line of lines.slice(0, -1)) {
        warn(
          'MultipleInstructionsDisallowed',
          `Multiple ${kw.toUpperCase()} instructions should not be used in the same stage because only the last one will be used`,
          line,
        );
      }
    }
    counts = new Map();
  };

  for (const n of nodes) {
    if (n.keyword === 'from') {
      if (inStage) flushCounts();
      inStage = true;
      // A stage built on an earlier one sees its ENV and ARGs; one built on an image, the image's ENV.
      const earlier = stageEnv.get((n.args[0] ?? '').toLowerCase());
      stageVars = new Set(
        earlier ?? options.baseEnv?.(substitute(n.args[0] ?? '', globalArgs(parsed, options.buildArgs ?? {}))) ?? [],
      );
      const kw = written(n);
      const as = n.args.length === 3 ? (n.args[1] as string) : undefined;
      if (as !== undefined && isUpper(kw) !== isUpper(as))
        warn('FromAsCasing', `'${as}' and '${kw}' keywords' casing do not match`, n.startLine);
      if (as !== undefined) {
        const name = (n.args[2] as string).toLowerCase();
        if (stageNames.has(name))
          warn('DuplicateStageName', `Duplicate stage name "${name}", stage names should be unique`, n.startLine);
        stageNames.set(name, n.startLine);
        stageEnv.set(name, stageVars);
      }
      const image = n.args[0] ?? '';
      for (const v of variables(image)) {
        if (!globals.has(v.name) && !PREDEFINED.has(v.name) && !v.hasDefault)
          warn('UndefinedArgInFrom', `FROM argument '${v.name}' is not declared`, n.startLine);
      }
      if (variables(image).length > 0) {
        const resolved = substitute(image, globals);
        if (resolved === '' || !IMAGE_NAME.test(resolved))
          warn(
            'InvalidDefaultArgInFrom',
            `Default value for ARG ${image} results in empty or invalid base image name`,
            n.startLine,
          );
      }
      for (const flag of n.flags) {
        const m = /^(?:--)?platform=(.*)$/.exec(flag);
        if (m && !(m[1] as string).includes('$'))
          warn(
            'FromPlatformFlagConstDisallowed',
            `FROM --platform flag should not use constant value "${m[1]}"`,
            n.startLine,
          );
      }
      continue;
    }
    if (!inStage) {
      if (n.keyword === 'arg') {
        for (const word of n.args) {
          const eq = word.indexOf('=');
          const name = eq < 0 ? word : word.slice(0, eq);
          globals.set(name, eq < 0 ? undefined : word.slice(eq + 1).replace(/^"(.*)"$/, '$1'));
        }
      }
      continue;
    }
    const kw = n.keyword;
    if (kw === 'cmd' || kw === 'entrypoint' || kw === 'healthcheck')
      counts.set(kw, [...(counts.get(kw) ?? []), n.startLine]);
    if (EXPANDED.has(kw)) {
      const text = kw === 'arg' ? n.args.map((w) => w.slice(w.indexOf('=') + 1)).join(' ') : n.args.join(' ');
      for (const v of variables(text)) {
        if (stageVars.has(v.name) || PREDEFINED.has(v.name) || COMMON_ENV.has(v.name) || v.hasDefault) continue;
        warn('UndefinedVar', `Usage of undefined variable '$${v.name}'`, n.startLine);
      }
    }
    if (kw === 'arg' || kw === 'env') {
      const names =
        kw === 'arg'
          ? n.args.map((w) => (w.includes('=') ? w.slice(0, w.indexOf('=')) : w))
          : n.args.filter((_, i) => i % 2 === 0);
      for (const name of names) {
        stageVars.add(name);
        if (SECRET.test(name) && !SECRET_ALLOWED.test(name))
          warn(
            'SecretsUsedInArgOrEnv',
            `Do not use ARG or ENV instructions for sensitive data (${kw.toUpperCase()} "${name}")`,
            n.startLine,
          );
      }
    }
    if (kw === 'workdir') {
      const dir = n.args[0] ?? '';
      if (!dir.startsWith('/') && !dir.startsWith('$') && !/^[A-Za-z]:[\\/]/.test(dir))
        warn(
          'WorkdirRelativePath',
          `Relative workdir "${dir}" can have unexpected results if the base image changes`,
          n.startLine,
        );
    }
    if ((kw === 'copy' || kw === 'add') && options.ignored && !n.flags.some((f) => /^(?:--)?from=/.test(f))) {
      const words = n.json ? n.args : n.args;
      for (const src of words.slice(0, -1)) {
        if (/^[a-z]+:\/\//i.test(src) || src.startsWith('git@') || /[*?[$]/.test(src)) continue;
        const rel = src.replace(/^\/+/, '').replace(/^\.\//, '').replace(/\/+$/, '');
        if (rel !== '' && rel !== '.' && options.ignored(rel))
          warn('CopyIgnoredFile', `Attempting to Copy file "${src}" that is excluded by .dockerignore`, n.startLine);
      }
    }
  }
  if (inStage) flushCounts();
  return filterWarnings(warnings, parsed.directives.check).sort((a, b) => a.line - b.line);
}
