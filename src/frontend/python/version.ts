/**
 * The Python version of the base: `python.version` in the configuration, else `.python-version`,
 * else the newest of the supported minors that `requires-python` allows (3.11 when it allows it,
 * so most projects share one base), else 3.11.
 */
import { GantryError } from '../../errors.js';

export const DEFAULT_PYTHON = '3.11';
const MINORS = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13'];

function cmp(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function parts(v: string): number[] {
  return v.split('.').map((x) => Number.parseInt(x, 10) || 0);
}

/** Whether the minor version `minor` (e.g. `3.11`, meaning any 3.11.x) can satisfy `spec`. */
export function allows(spec: string, minor: string): boolean {
  const m = parts(minor);
  for (const clause of spec
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean)) {
    const c = /^(~=|===|==|!=|>=|<=|>|<)\s*([0-9][0-9.*]*)$/.exec(clause);
    if (!c) continue;
    const op = c[1] as string;
    const raw = c[2] as string;
    const v = parts(raw.replace(/\.\*$/, ''));
    const sameMinor = cmp(m.slice(0, 2), v.slice(0, 2)) === 0;
    const lowest = [...m.slice(0, 2), 0];
    const highest = [...m.slice(0, 2), 999];
    const ok =
      op === '>=' || op === '~='
        ? cmp(highest, v) >= 0 && (op === '>=' || cmp(m.slice(0, 1), v.slice(0, 1)) === 0)
        : op === '>'
          ? cmp(highest, v) > 0
          : op === '<'
            ? cmp(lowest, v) < 0
            : op === '<='
              ? cmp(lowest, v) <= 0
              : op === '==' || op === '==='
                ? raw.endsWith('.*') || v.length <= 2
                  ? cmp(m.slice(0, v.length), v.slice(0, 2)) === 0 || sameMinor
                  : sameMinor
                : !(raw.endsWith('.*') && sameMinor);
    if (!ok) return false;
  }
  return true;
}

export function pythonVersion(inputs: {
  readonly configured?: string;
  readonly pinned?: string;
  readonly requiresPython?: string;
}): { value: string; why: string } {
  const minor = (v: string) => v.split('.').slice(0, 2).join('.');
  if (inputs.configured) return { value: minor(inputs.configured), why: 'python.version in the configuration' };
  if (inputs.pinned && /^\d+\.\d+/.test(inputs.pinned))
    return { value: minor(inputs.pinned), why: `.python-version says ${inputs.pinned}` };
  if (inputs.requiresPython) {
    const spec = inputs.requiresPython;
    if (allows(spec, DEFAULT_PYTHON)) return { value: DEFAULT_PYTHON, why: `requires-python ${spec} allows it` };
    const ok = MINORS.filter((m) => allows(spec, m));
    const newest = ok[ok.length - 1];
    if (!newest) {
      throw new GantryError(
        'PYTHON_VERSION_UNSATISFIABLE',
        `requires-python ${spec} allows none of ${MINORS.join(', ')}`,
        {
          phase: 'config',
          suggestion: 'fix requires-python, or give the base with --from',
        },
      );
    }
    return { value: newest, why: `the newest Python requires-python ${spec} allows` };
  }
  return { value: DEFAULT_PYTHON, why: 'no requires-python or .python-version' };
}
