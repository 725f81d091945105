// Shared helpers for the build context tests: temp dirs and trees written from a compact spec.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TarInput } from '../../../src/layer/index.js';

export function tempDir(t: { after: (fn: () => void) => void }, name = 'gantry-context-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Writes a tree: 'dir/' makes a directory, 'name' a file with its own path as content (or the
 * given string), '-> target' a symlink; `{ mode }` after a path sets its mode.
 */
export function writeTree(root: string, spec: Readonly<Record<string, string | null | { mode: number }>>): void {
  for (const [path, value] of Object.entries(spec)) {
    const abs = join(root, path);
    if (path.endsWith('/')) {
      mkdirSync(abs, { recursive: true });
      if (value !== null && typeof value === 'object') chmodSync(abs, value.mode);
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof value === 'string' && value.startsWith('-> ')) symlinkSync(value.slice(3), abs);
    else {
      writeFileSync(abs, typeof value === 'string' ? value : path);
      if (value !== null && typeof value === 'object') chmodSync(abs, value.mode);
    }
  }
}

export async function collect(inputs: AsyncIterable<TarInput>): Promise<TarInput[]> {
  const out: TarInput[] = [];
  for await (const input of inputs) out.push(input);
  return out;
}

export async function bodyText(input: TarInput): Promise<string> {
  const body = input.body;
  if (body === undefined) return '';
  if (Buffer.isBuffer(body)) return body.toString();
  const chunks: Buffer[] = [];
  for await (const chunk of await body()) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString();
}
