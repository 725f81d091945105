// Real layer bytes for tests: files written to a temp dir and packed by the system `tar`, then
// gzip-compressed with zlib. Plus temp-dir and tool helpers shared by the oci tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface TarLayer {
  readonly tar: Buffer;
  readonly gz: Buffer;
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `gantry-oci-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A tar of `files` made by the system tar (owner 0, fixed mtime), and its gzip. */
export function makeTarLayer(files: Record<string, string | Buffer>): TarLayer {
  const { dir, cleanup } = tempDir('tar');
  try {
    for (const [name, body] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), body);
    }
    const tar = execFileSync(
      'tar',
      [
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@0',
        '-cf',
        '-',
        '-C',
        dir,
        ...Object.keys(files),
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return { tar, gz: gzipSync(tar) };
  } finally {
    cleanup();
  }
}

/** Runs a tool; returns its stdout, throwing with stderr when it fails. */
export function runTool(cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}): ${res.stderr}`);
  return res.stdout;
}

export function hasTool(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
