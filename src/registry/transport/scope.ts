/**
 * Token scopes as docker's token spec writes them (`repository:library/alpine:pull,push`,
 * `registry:catalog:*`): parse, merge the actions of one resource, and decide whether a token
 * granted for one set of scopes serves another.
 */

export interface Scope {
  /** 'repository', 'registry', 'repository(plugin)' */
  readonly type: string;
  readonly name: string;
  /** Sorted, unique. */
  readonly actions: readonly string[];
}

/** Parses `type:name:actions`; the name may not hold ':' but a type with a class may, e.g. `repository(plugin)`. */
export function parseScope(scope: string): Scope | undefined {
  const last = scope.lastIndexOf(':');
  const first = scope.indexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: [...new Set(actions)].sort() };
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/**
 * Merges scopes: one entry per resource with the union of its actions, sorted, so equal sets give
 * equal cache keys. Strings that are not scopes are kept as they are (registries may invent forms).
 */
export function mergeScopes(...lists: readonly (readonly string[] | undefined)[]): string[] {
  const byResource = new Map<string, { type: string; name: string; actions: Set<string> }>();
  const opaque = new Set<string>();
  for (const list of lists) {
    for (const s of list ?? []) {
      const p = parseScope(s);
      if (!p) {
        if (s !== '') opaque.add(s);
        continue;
      }
      const key = `${p.type}:${p.name}`;
      const entry = byResource.get(key) ?? { type: p.type, name: p.name, actions: new Set<string>() };
      for (const a of p.actions) entry.actions.add(a);
      byResource.set(key, entry);
    }
  }
  const out = [...byResource.values()].map((e) => formatScope({ ...e, actions: [...e.actions].sort() }));
  out.push(...opaque);
  return out.sort();
}

/** Whether a token for `granted` was asked for everything `wanted` needs (`*` covers every action). */
export function scopesCover(granted: readonly string[], wanted: readonly string[]): boolean {
  const have = new Map<string, Set<string>>();
  for (const s of granted) {
    const p = parseScope(s);
    if (!p) {
      have.set(s, new Set());
      continue;
    }
    const key = `${p.type}:${p.name}`;
    const set = have.get(key) ?? new Set<string>();
    for (const a of p.actions) set.add(a);
    have.set(key, set);
  }
  for (const s of wanted) {
    const p = parseScope(s);
    if (!p) {
      if (!have.has(s)) return false;
      continue;
    }
    const set = have.get(`${p.type}:${p.name}`);
    if (!set) return false;
    if (set.has('*')) continue;
    if (!p.actions.every((a) => set.has(a))) return false;
  }
  return true;
}

/** The scope for pulling from (and, with push, pushing to) a repository. */
export function repositoryScope(repository: string, actions: readonly ('pull' | 'push' | 'delete' | '*')[]): string {
  return `repository:${repository}:${[...new Set(actions)].sort().join(',')}`;
}
