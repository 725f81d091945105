/**
 * Workspaces (monorepos): the member packages a root declares (npm and yarn `workspaces`, pnpm's
 * pnpm-workspace.yaml), and the one `--workspace NAME` builds with the members it depends on,
 * through its production dependencies, and nothing else.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { GantryError } from '../../errors.js';
import { type PackageJson, type PackageManager, productionDependencies, readPackageJson } from './package.js';

export interface WorkspaceMember {
  /** '/'-separated, relative to the root. */
  readonly dir: string;
  readonly pkg: PackageJson;
}

async function patternsOf(root: string, pkg: PackageJson, pm: PackageManager): Promise<string[]> {
  if (pm.name === 'pnpm' || existsSync(join(root, 'pnpm-workspace.yaml'))) {
    const text = await readFile(join(root, 'pnpm-workspace.yaml'), 'utf8').catch(() => undefined);
    if (text !== undefined) {
      // js-yaml (100 KB) loads for pnpm workspaces only.
      const yaml = await import('js-yaml');
      let doc: unknown;
      try {
        doc = yaml.load(text);
      } catch (err) {
        throw new GantryError(
          'NODE_WORKSPACE_INVALID',
          `pnpm-workspace.yaml: ${(err as Error).message.split('\n')[0]}`,
          {
            phase: 'config',
            suggestion: 'fix the YAML syntax',
          },
        );
      }
      const packages = (doc as { packages?: unknown } | null)?.packages;
      if (packages === undefined) return [];
      if (!Array.isArray(packages) || packages.some((p) => typeof p !== 'string'))
        throw new GantryError('NODE_WORKSPACE_INVALID', 'pnpm-workspace.yaml: "packages" is not a list of paths', {
          phase: 'config',
          suggestion: 'give packages as a list, e.g. - "packages/*"',
        });
      return packages as string[];
    }
  }
  const ws = pkg.workspaces;
  return [...((Array.isArray(ws) ? ws : (ws as { packages?: readonly string[] } | undefined)?.packages) ?? [])];
}

/** Directories a workspace pattern names: `a/b`, `a/*`, `a/**` (below node_modules never). */
async function expand(root: string, pattern: string): Promise<string[]> {
  const clean = posix.normalize(pattern.replace(/^\.\//, '')).replace(/\/+$/, '');
  if (clean.startsWith('..') || clean.startsWith('/')) return [];
  const parts = clean.split('/');
  const out: string[] = [];
  const walk = async (at: string, i: number): Promise<void> => {
    if (i === parts.length) {
      if (existsSync(join(root, at, 'package.json'))) out.push(at);
      return;
    }
    const part = parts[i] as string;
    if (!part.includes('*')) return walk(at === '' ? part : `${at}/${part}`, i + 1);
    const entries = await readdir(join(root, at), { withFileTypes: true }).catch(() => []);
    const re = new RegExp(`^${part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*+/g, '.*')}$`);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!e.isDirectory() || e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const sub = at === '' ? e.name : `${at}/${e.name}`;
      if (part === '**') {
        await walk(sub, i);
        await walk(sub, i + 1);
      } else if (re.test(e.name)) await walk(sub, i + 1);
    }
    if (part === '**') await walk(at, i + 1);
  };
  await walk('', 0);
  return out;
}

/** The root's workspace members, in path order; empty when it declares none. */
export async function workspaceMembers(root: string, pkg: PackageJson, pm: PackageManager): Promise<WorkspaceMember[]> {
  const patterns = await patternsOf(root, pkg, pm);
  const include = patterns.filter((p) => !p.startsWith('!'));
  const exclude = new Set<string>();
  for (const p of patterns.filter((p) => p.startsWith('!')))
    for (const d of await expand(root, p.slice(1))) exclude.add(d);
  const dirs = new Set<string>();
  for (const p of include) for (const d of await expand(root, p)) if (!exclude.has(d) && d !== '') dirs.add(d);
  const out: WorkspaceMember[] = [];
  for (const dir of [...dirs].sort()) out.push({ dir, pkg: await readPackageJson(join(root, dir)) });
  return out;
}

/**
 * The member `name` (a package name or its directory) and the members it needs through its
 * production dependencies, transitively; the selected one first.
 */
export function selectWorkspace(
  members: readonly WorkspaceMember[],
  name: string,
): { selected: WorkspaceMember; needed: WorkspaceMember[] } {
  const byName = new Map(members.filter((m) => m.pkg.name).map((m) => [m.pkg.name as string, m]));
  const selected = byName.get(name) ?? members.find((m) => m.dir === name.replace(/^\.\//, '').replace(/\/+$/, ''));
  if (!selected) {
    const known = members.map((m) => m.pkg.name ?? m.dir);
    throw new GantryError('NODE_WORKSPACE_NOT_FOUND', `no workspace package ${JSON.stringify(name)}`, {
      phase: 'config',
      suggestion: known.length > 0 ? `pick one of ${known.join(', ')}` : 'the root declares no workspaces',
    });
  }
  const needed: WorkspaceMember[] = [];
  const seen = new Set<WorkspaceMember>();
  const visit = (m: WorkspaceMember) => {
    if (seen.has(m)) return;
    seen.add(m);
    needed.push(m);
    for (const dep of productionDependencies(m.pkg)) {
      const other = byName.get(dep);
      if (other) visit(other);
    }
  };
  visit(selected);
  return { selected, needed };
}
