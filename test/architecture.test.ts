// Pins the module direction of ARCHITECTURE.md: reference -> oci -> layer -> store / registry ->
// engine -> frontend -> supply -> integrations -> api -> cli. A module may import its own files, the shared base
// (errors.ts, util/), and modules before it; `dockerfile` imports nothing of ours but errors;
// nothing imports `cli`.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');
const src = join(root, 'src');

const rank: Record<string, number> = {
  errors: -2,
  util: -1,
  reference: 0,
  oci: 1,
  layer: 2,
  store: 3,
  registry: 3,
  engine: 4,
  dockerfile: 4,
  frontend: 5,
  supply: 6,
  // The supply chain, beside supply: what an image contains (sbom) and what is said about it (attest).
  sbom: 6,
  attest: 6,
  integrations: 7,
  // The library functions: what the CLI does, a typed function each; only cli and index use them.
  api: 7.5,
  cli: 8,
  index: 8,
};

function moduleOf(file: string, base: string): string {
  const rel = relative(base, file).split('/');
  const first = rel[0] ?? '';
  return rel.length === 1 ? first.replace(/\.[jt]s$/, '') : first;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function violations(files: string[], base: string): string[] {
  const bad: string[] = [];
  for (const file of files) {
    const from = moduleOf(file, base);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
    )) {
      const spec = m[1] ?? m[2] ?? '';
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(base)) continue;
      const to = moduleOf(target, base);
      if (to === from) continue;
      const where = `${relative(root, file)} imports ${spec}`;
      if (!(from in rank) || !(to in rank)) {
        bad.push(`${where}: module ${from in rank ? to : from} is not on the map`);
      } else if (to === 'cli') {
        bad.push(`${where}: nothing imports cli`);
      } else if (from === 'dockerfile' && to !== 'errors') {
        bad.push(`${where}: dockerfile imports nothing of ours`);
      } else if ((rank[to] as number) >= (rank[from] as number) && !(from === 'index')) {
        bad.push(`${where}: ${from} may not import ${to}`);
      }
    }
  }
  return bad;
}

test('no module imports against the direction in ARCHITECTURE.md', () => {
  assert.deepEqual(violations(walk(src), src), []);
});

test('the direction check catches an upward import, a cli import and an unmapped module', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gantry-arch-'));
  try {
    const put = (p: string, body: string) => {
      mkdirSync(dirname(join(tmp, p)), { recursive: true });
      writeFileSync(join(tmp, p), body);
    };
    put('oci/a.ts', "import { x } from '../store/b.js';\n");
    put('engine/c.ts', "import { y } from '../cli/main.js';\n");
    put('dockerfile/d.ts', "import { z } from '../reference/r.js';\n");
    put('layer/e.ts', "import { w } from '../oci/types.js';\nimport { v } from '../nowhere/x.js';\n");
    put('frontend/f.ts', "import { build } from '../api/build.js';\n");
    put('api/g.ts', "import { run } from '../cli/main.js';\nimport { h } from '../frontend/h.js';\n");
    const found = violations(walk(tmp), tmp);
    assert.equal(found.length, 6, found.join('\n'));
    assert.match(found.join('\n'), /frontend may not import api/);
    assert.match(found.join('\n'), /api\/g\.ts imports \.\.\/cli\/main\.js: nothing imports cli/);
    assert.match(found.join('\n'), /oci may not import store/);
    assert.match(found.join('\n'), /nothing imports cli/);
    assert.match(found.join('\n'), /dockerfile imports nothing of ours/);
    assert.match(found.join('\n'), /nowhere is not on the map/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
