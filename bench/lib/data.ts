/**
 * Deterministic bench data: directory trees of source-like text and incompressible binaries, and
 * single stream files, generated from a seed into `.cache/bench/`. A dataset is reused while its
 * recipe (and this generator's version) is unchanged; the recipe marker is written last, so an
 * interrupted generation is redone rather than trusted.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type IoOptions, throwIfAborted } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/util/fs.js';

/** Bump when the output of the generator changes for the same recipe. */
const GENERATOR_VERSION = 2;

const MiB = 1024 * 1024;

export interface TreeRecipe {
  readonly kind: 'tree';
  readonly seed: number;
  /** Total bytes of text files, spread over `textFiles` files of skewed sizes. */
  readonly textBytes: number;
  readonly textFiles: number;
  /** Sizes of the incompressible binary files, in bytes. */
  readonly binaryFiles: readonly number[];
}

export interface DatasetInfo {
  readonly path: string;
  readonly bytes: number;
  readonly files: number;
  readonly reused: boolean;
  readonly seconds: number;
}

/** mulberry32: small, fast, seedable; plenty for choosing sizes, names and lines. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Incompressible bytes from a seed: AES-256-CTR over zeros. It is a seeded generator like any
 * other, and runs at memory speed where a JavaScript PRNG would dominate generation time.
 */
function keystream(seed: string, bytes: number): Readable {
  const key = createHash('sha256').update(`key:${seed}`).digest();
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(MiB);
  let left = bytes;
  return Readable.from(
    (function* () {
      while (left > 0) {
        const n = Math.min(left, zeros.length);
        left -= n;
        yield cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
      }
    })(),
  );
}

const SYLLABLES = ['al', 'be', 'cor', 'da', 'ex', 'fi', 'gan', 'ho', 'in', 'ju', 'ka', 'lo', 'mer', 'no', 'op', 'pre'];
const KEYWORDS = ['const', 'let', 'return', 'await', 'export', 'import', 'if', 'for', 'while', 'new', 'typeof'];

/**
 * A pool of source-like lines built from a skewed vocabulary (a few names are everywhere, most
 * are rare, as in code). Files take most lines from a local slice of the pool and some from
 * anywhere, so they repeat themselves the way a module does; the pool is far larger than
 * gzip's 32 KiB window, so the whole compresses like source code (about 4-6x), not like a
 * repeated string.
 */
function linePool(rand: () => number, count: number): Buffer[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const syllables = (): string => {
    const n = 2 + Math.floor(rand() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += pick(SYLLABLES);
    return w;
  };
  const vocabulary = Array.from({ length: 4096 }, () =>
    rand() < 0.5 ? syllables() : syllables() + syllables().replace(/^./, (c) => c.toUpperCase()),
  );
  const ident = (): string => vocabulary[Math.floor(rand() ** 3 * vocabulary.length)] as string;
  const lines: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const indent = '  '.repeat(Math.floor(rand() * 4));
    const r = rand();
    let line: string;
    if (r < 0.15) line = `// ${Array.from({ length: 3 + Math.floor(rand() * 9) }, ident).join(' ')}`;
    else if (r < 0.3) line = `${pick(KEYWORDS)} ${ident()} = ${ident()}(${ident()}, ${Math.floor(rand() * 100)});`;
    else if (r < 0.4) line = `import { ${ident()}, ${ident()} } from './${ident()}/${ident()}.js';`;
    else if (r < 0.55) line = `if (${ident()}.${ident()} !== ${ident()}) {`;
    else if (r < 0.65) line = '}';
    else if (r < 0.75) line = `return ${ident()} + ${ident()} * ${Math.floor(rand() * 10)};`;
    else if (r < 0.85) line = `"${ident()}": "${ident()}-${Math.floor(rand() * 100)}",`;
    else line = `${ident()}.${ident()}(${JSON.stringify(ident())}, { ${ident()}: ${rand() < 0.5} });`;
    lines.push(Buffer.from(`${indent}${line}\n`));
  }
  return lines;
}

const LOCAL_LINES = 512;

function textFile(rand: () => number, pool: readonly Buffer[], bytes: number): Buffer {
  const local = Math.floor(rand() * (pool.length - LOCAL_LINES));
  const parts: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const at = rand() < 0.7 ? local + Math.floor(rand() * LOCAL_LINES) : Math.floor(rand() * pool.length);
    const line = pool[at] as Buffer;
    parts.push(line);
    size += line.length;
  }
  return Buffer.concat(parts, size).subarray(0, bytes);
}

/** Sizes that sum to `total`: a skewed spread, many small files and a few big ones, like a repo. */
function skewedSizes(rand: () => number, count: number, total: number): number[] {
  const weights = Array.from({ length: count }, () => 0.05 + rand() ** 3);
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.floor((w / sum) * total));
  sizes[0] = (sizes[0] as number) + total - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

const EXTENSIONS = ['.ts', '.ts', '.js', '.js', '.json', '.md', '.css'];

function recipeText(recipe: object): string {
  return JSON.stringify({ generator: GENERATOR_VERSION, ...recipe });
}

async function reusable(marker: string, recipe: object): Promise<boolean> {
  const text = await readFile(marker, 'utf8').catch(() => undefined);
  return text === recipeText(recipe);
}

/** Generates (or reuses) a directory tree at `path` from `recipe`. */
export async function ensureTree(path: string, recipe: TreeRecipe, options: IoOptions = {}): Promise<DatasetInfo> {
  const started = performance.now();
  const marker = `${path}.recipe.json`;
  const bytes = recipe.textBytes + recipe.binaryFiles.reduce((a, b) => a + b, 0);
  const files = recipe.textFiles + recipe.binaryFiles.length;
  if (await reusable(marker, recipe)) {
    return { path, bytes, files, reused: true, seconds: (performance.now() - started) / 1000 };
  }
  await rm(marker, { force: true });
  await rm(path, { recursive: true, force: true });
  const rand = prng(recipe.seed);
  const pool = linePool(rand, 1 << 16);
  const sizes = skewedSizes(rand, recipe.textFiles, recipe.textBytes);
  // A tree a few levels deep, ~40 entries per directory, as in a real project.
  for (const [i, size] of sizes.entries()) {
    throwIfAborted(options.signal);
    const ext = EXTENSIONS[Math.floor(rand() * EXTENSIONS.length)] as string;
    const file = join(path, 'src', `pkg-${i % 37}`, `mod-${Math.floor(i / 37) % 23}`, `file-${i}${ext}`);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, textFile(rand, pool, size), { signal: options.signal });
  }
  for (const [i, size] of recipe.binaryFiles.entries()) {
    const file = join(path, 'assets', `blob-${String(i).padStart(3, '0')}.bin`);
    await mkdir(dirname(file), { recursive: true });
    await pipeline(keystream(`${recipe.seed}:${i}`, size), createWriteStream(file), { signal: options.signal });
    // Some executables, so modes other than 0644 reach the layer.
    if (i % 3 === 0) await chmod(file, 0o755);
  }
  await writeFileAtomic(marker, recipeText(recipe), options);
  return { path, bytes, files, reused: false, seconds: (performance.now() - started) / 1000 };
}

/** Every regular file under `dir`, sorted, so walks are deterministic. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * One file of exactly `bytes`: the files of `tree` concatenated in sorted order, repeated as
 * needed. Tools that take one file (gzip, sha256sum) then see the same mix of text and
 * binaries as the builders do.
 */
export async function ensureStream(
  path: string,
  tree: DatasetInfo,
  recipe: TreeRecipe,
  bytes: number,
  options: IoOptions = {},
): Promise<DatasetInfo> {
  const started = performance.now();
  const marker = `${path}.recipe.json`;
  const key = { kind: 'stream', bytes, tree: recipe };
  if ((await reusable(marker, key)) && (await stat(path).catch(() => undefined))?.size === bytes) {
    return { path, bytes, files: 1, reused: true, seconds: (performance.now() - started) / 1000 };
  }
  await rm(marker, { force: true });
  const files = await listFiles(tree.path);
  async function* concatenated(): AsyncGenerator<Buffer> {
    let left = bytes;
    while (left > 0) {
      for (const f of files) {
        for await (const chunk of createReadStream(f) as AsyncIterable<Buffer>) {
          const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
          left -= piece.length;
          yield piece;
          if (left === 0) return;
        }
      }
    }
  }
  await mkdir(dirname(path), { recursive: true });
  await pipeline(Readable.from(concatenated()), createWriteStream(path), { signal: options.signal });
  await writeFileAtomic(marker, recipeText(key), options);
  return { path, bytes, files: 1, reused: false, seconds: (performance.now() - started) / 1000 };
}

/** Reads every file once, so the first timed run does not pay for a cold page cache. */
export async function warmPageCache(dir: string, options: IoOptions = {}): Promise<void> {
  const files = (await stat(dir)).isDirectory() ? await listFiles(dir) : [dir];
  for (const f of files) {
    throwIfAborted(options.signal);
    for await (const _ of createReadStream(f, { highWaterMark: MiB, signal: options.signal })) {
      // reading is the point
    }
  }
}

export { MiB };
