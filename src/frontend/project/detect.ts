/**
 * Which front end a build context gets: a Dockerfile when there is one, else a project kind
 * recognized from its marker files (Python, Node.js), else the plain directory builder. The
 * caller says which project kinds it can build, so a kind whose front end is absent is never
 * picked by detection (a context with a package.json stays a directory build until then).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GantryError } from '../../errors.js';

/** The values of `--frontend` (`dir` is the plain directory builder). */
export type FrontEndName = 'dockerfile' | 'python' | 'node' | 'dir';

export const FRONTEND_NAMES: readonly FrontEndName[] = ['dockerfile', 'python', 'node', 'dir'];

/** A project kind that has its own front end. */
export type ProjectKind = 'python' | 'node';

export interface Detection {
  readonly frontend: FrontEndName;
  /** The files that decided it, relative to the context (empty for `dir` and a forced choice). */
  readonly markers: readonly string[];
  /** One line for `-v` and `--dry-run`: why this front end. */
  readonly why: string;
}

/** Marker files of each project kind, in the order they are reported. */
const MARKERS: Readonly<Record<ProjectKind, (names: readonly string[]) => string[]>> = {
  python: (names) =>
    names
      .filter(
        (n) =>
          n === 'pyproject.toml' ||
          n === 'setup.py' ||
          n === 'setup.cfg' ||
          n === 'Pipfile' ||
          /^requirements[\w.-]*\.txt$/.test(n),
      )
      .sort(),
  node: (names) => names.filter((n) => n === 'package.json'),
};

/** `--frontend` value checked (exit 2 on anything else). */
export function parseFrontEnd(value: string): FrontEndName {
  const v = value === 'directory' ? 'dir' : value;
  if (!(FRONTEND_NAMES as readonly string[]).includes(v)) {
    throw new GantryError('USAGE', `invalid --frontend ${JSON.stringify(value)}`, {
      phase: 'usage',
      suggestion: `use one of ${FRONTEND_NAMES.join(', ')}`,
    });
  }
  return v as FrontEndName;
}

export interface DetectOptions {
  /** `--frontend`: forces the choice. */
  readonly frontend?: FrontEndName;
  /** `-f`: a Dockerfile was named, so it is a Dockerfile build. */
  readonly dockerfile?: string;
  /** The project kinds this build can make; detection picks only among them. */
  readonly kinds: readonly ProjectKind[];
}

/** Decides the front end for `context` (a directory) without reading more than its listing. */
export function detectProject(context: string, options: DetectOptions): Detection {
  let names: string[] = [];
  try {
    names = readdirSync(context);
  } catch {
    // A missing context is reported by the front end that reads it, with its own message.
  }
  if (options.frontend !== undefined) {
    const kind = options.frontend;
    const markers = kind === 'python' || kind === 'node' ? MARKERS[kind](names) : [];
    return { frontend: kind, markers, why: `--frontend ${kind}` };
  }
  if (options.dockerfile !== undefined) return { frontend: 'dockerfile', markers: [], why: `-f ${options.dockerfile}` };
  if (existsSync(join(context, 'Dockerfile')))
    return { frontend: 'dockerfile', markers: ['Dockerfile'], why: 'the context has a Dockerfile' };
  for (const kind of options.kinds) {
    const markers = MARKERS[kind](names);
    if (markers.length > 0)
      return {
        frontend: kind,
        markers,
        why: `no Dockerfile; ${markers.join(', ')} ${markers.length > 1 ? 'make' : 'makes'} it a ${label(kind)} project`,
      };
  }
  return { frontend: 'dir', markers: [], why: 'no Dockerfile and no project file: the directory is one layer' };
}

function label(kind: ProjectKind): string {
  return kind === 'python' ? 'Python' : 'Node.js';
}
