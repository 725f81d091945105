/**
 * How the image starts the app: `node FILE` (never `npm start`, so signals reach the app) from
 * `bin`, `main`, `exports` or `scripts.start`, in that order, else a conventional file; and which
 * web framework it is (Next.js, NestJS, Fastify, Hono, Koa, Express), from the dependencies and
 * confirmed in the source, with the port the app listens on.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { GantryError } from '../../errors.js';
import type { PackageJson } from './package.js';

export interface EntryChoice {
  /** argv after `node` (flags, then the file, relative to the package directory). */
  readonly args: readonly string[];
  /** The file node runs, relative to the package directory. */
  readonly file: string;
  readonly why: string;
}

/** The export `exports` gives for `.`: the node, import, require or default condition. */
function exportTarget(exp: unknown): string | undefined {
  if (typeof exp === 'string') return exp;
  if (Array.isArray(exp)) {
    for (const e of exp) {
      const t = exportTarget(e);
      if (t) return t;
    }
    return undefined;
  }
  if (typeof exp !== 'object' || exp === null) return undefined;
  const o = exp as Record<string, unknown>;
  if ('.' in o) return exportTarget(o['.']);
  if (Object.keys(o).some((k) => k.startsWith('.'))) return undefined;
  for (const cond of ['node', 'import', 'require', 'default']) {
    if (cond in o) {
      const t = exportTarget(o[cond]);
      if (t) return t;
    }
  }
  return undefined;
}

function clean(file: string): string {
  return posix.normalize(file.replace(/^\.\//, ''));
}

/** `node [flags] FILE [args]` in a start script, without shell syntax; undefined when it is anything else. */
export function parseStartScript(script: string): string[] | undefined {
  const s = script.trim();
  if (/[;&|<>`$()]/.test(s)) return undefined;
  const words = s.split(/\s+/);
  let i = 0;
  while (i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i] as string)) i++;
  if (words[i] !== 'node') return undefined;
  const rest = words.slice(i + 1);
  const file = rest.findIndex((w) => !w.startsWith('-'));
  if (file === -1) return undefined;
  // Flags that take a separate value (`-r x`, `--require x`, `--import x`) would be misread: refuse them.
  if (rest.slice(0, file).some((w) => ['-r', '--require', '--import', '--loader', '-e', '--eval'].includes(w)))
    return undefined;
  return rest;
}

/**
 * The entrypoint of a package: `bin` (the one named after the package, or the only one), `main`,
 * `exports["."]`, `scripts.start` when it is `node FILE`, else index.js, server.js, app.js or
 * main.js when present. `exists` says whether a file will be in the image (built files too).
 */
export function resolveEntry(pkg: PackageJson, exists: (file: string) => boolean): EntryChoice {
  const bin = pkg.bin;
  if (typeof bin === 'string') return { args: [clean(bin)], file: clean(bin), why: '"bin" in package.json' };
  if (bin && typeof bin === 'object') {
    const names = Object.keys(bin);
    const unscoped = pkg.name?.replace(/^@[^/]+\//, '');
    const pick = (unscoped && bin[unscoped] !== undefined ? unscoped : names.length === 1 ? names[0] : undefined) as
      | string
      | undefined;
    if (pick !== undefined) {
      const file = clean(bin[pick] as string);
      return { args: [file], file, why: `"bin": "${pick}" in package.json` };
    }
  }
  if (pkg.main !== undefined) return { args: [clean(pkg.main)], file: clean(pkg.main), why: '"main" in package.json' };
  const exp = exportTarget(pkg.exports);
  if (exp !== undefined) return { args: [clean(exp)], file: clean(exp), why: '"exports" in package.json' };
  const start = pkg.scripts?.start;
  if (start !== undefined) {
    const args = parseStartScript(start);
    const at = args?.findIndex((w) => !w.startsWith('-')) ?? -1;
    if (args && at !== -1) {
      const file = clean(args[at] as string);
      const out = [...args];
      out[at] = file;
      return { args: out, file, why: `scripts.start runs "${start}" (run as node directly, so signals reach it)` };
    }
  }
  for (const file of ['index.js', 'server.js', 'app.js', 'main.js', 'index.mjs', 'server.mjs']) {
    if (exists(file)) return { args: [file], file, why: `${file} is there (no bin, main, exports or start)` };
  }
  throw new GantryError('NODE_NO_ENTRYPOINT', 'cannot tell how to start the app', {
    phase: 'config',
    suggestion:
      'set "main" (or "bin", or scripts.start as "node FILE") in package.json, or give --entrypoint / "gantry": {"entrypoint": [...]}',
  });
}

export interface Framework {
  readonly name: 'Next.js' | 'NestJS' | 'Fastify' | 'Hono' | 'Koa' | 'Express';
  /** The dependency that names it. */
  readonly dependency: string;
  readonly port: number;
  readonly why: string;
}

const FRAMEWORKS: readonly { name: Framework['name']; dependency: string; port: number; code: RegExp }[] = [
  { name: 'Next.js', dependency: 'next', port: 3000, code: /from ['"]next|require\(['"]next/ },
  { name: 'NestJS', dependency: '@nestjs/core', port: 3000, code: /['"]@nestjs\/core['"]/ },
  { name: 'Fastify', dependency: 'fastify', port: 3000, code: /['"]fastify['"]/ },
  { name: 'Hono', dependency: 'hono', port: 3000, code: /['"]hono['"]|['"]@hono\/node-server['"]/ },
  { name: 'Koa', dependency: 'koa', port: 3000, code: /['"]koa['"]/ },
  { name: 'Express', dependency: 'express', port: 3000, code: /['"]express['"]/ },
];

const SOURCE = /\.(?:[cm]?[jt]sx?)$/;
const MAX_FILES = 300;
const MAX_BYTES = 4 * 1024 * 1024;

/** The project's own source files (no node_modules, output or hidden dirs), at most MAX_FILES and MAX_BYTES. */
async function sourceTexts(dir: string, skip: ReadonlySet<string>): Promise<string[]> {
  const out: string[] = [];
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (out.length >= MAX_FILES || bytes >= MAX_BYTES) return;
      const sub = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || e.name.startsWith('.') || skip.has(sub)) continue;
        await walk(sub);
      } else if (e.isFile() && SOURCE.test(e.name)) {
        const text = await readFile(join(dir, sub), 'utf8').catch(() => '');
        bytes += text.length;
        out.push(text);
      }
    }
  };
  await walk('');
  return out;
}

/** A port literal the code listens on: `.listen(8080`, `PORT || 8080`, `PORT ?? 8080`, `port: 8080`. */
export function portInCode(text: string): number | undefined {
  const patterns = [
    /\.listen\(\s*(\d{2,5})\b/,
    /\bPORT\b\s*(?:\|\||\?\?)\s*['"]?(\d{2,5})\b/,
    /\bport\s*:\s*(?:Number\([^)]*\)\s*(?:\|\||\?\?)\s*)?(\d{2,5})\b/,
    /\bport\s*:\s*[^,}\n]*(?:\|\||\?\?)\s*['"]?(\d{2,5})\b/,
  ];
  for (const re of patterns) {
    const m = re.exec(text);
    if (m && Number(m[1]) > 0 && Number(m[1]) < 65536) return Number(m[1]);
  }
  return undefined;
}

/**
 * The framework the app uses: a dependency of the package that its own source imports (a
 * dependency alone is not enough), with the port from the code when it names one, else the
 * framework's default. `skip` names directories not to read (the build output).
 */
export async function detectFramework(
  dir: string,
  dependencies: readonly string[],
  skip: ReadonlySet<string> = new Set(),
): Promise<{ framework?: Framework; port?: number; portWhy?: string }> {
  const texts = await sourceTexts(dir, skip);
  let port: number | undefined;
  for (const t of texts) {
    port = portInCode(t);
    if (port !== undefined) break;
  }
  const deps = new Set(dependencies);
  for (const f of FRAMEWORKS) {
    if (!deps.has(f.dependency)) continue;
    const used =
      f.name === 'Next.js'
        ? existsSync(join(dir, 'next.config.js')) ||
          existsSync(join(dir, 'next.config.mjs')) ||
          existsSync(join(dir, 'next.config.ts')) ||
          texts.some((t) => f.code.test(t))
        : texts.some((t) => f.code.test(t));
    if (!used) continue;
    const chosen = port ?? f.port;
    return {
      framework: {
        name: f.name,
        dependency: f.dependency,
        port: chosen,
        why: `"${f.dependency}" is a dependency and the source uses it`,
      },
      port: chosen,
      portWhy: port !== undefined ? 'the port the code listens on' : `${f.name}'s default port`,
    };
  }
  return port !== undefined ? { port, portWhy: 'the port the code listens on' } : {};
}

/** Next.js standalone output (`output: 'standalone'` in next.config): .next/standalone is the app. */
export async function nextStandalone(dir: string): Promise<boolean> {
  for (const f of ['next.config.js', 'next.config.mjs', 'next.config.ts', 'next.config.cjs']) {
    const text = await readFile(join(dir, f), 'utf8').catch(() => undefined);
    if (text !== undefined) return /output\s*:\s*['"]standalone['"]/.test(text);
  }
  return false;
}
