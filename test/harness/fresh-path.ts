// A PATH that stands for a fresh Debian machine: this machine's programs minus those only the test
// suite installs (attr, bubblewrap, qemu-user, debootstrap, the registry and its validators).
// Uses ../shared/tools/fresh-path.sh beside the clone when it is there (as the quick start
// does), else builds the same thing here.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const repoRoot = resolve(new URL('.', import.meta.url).pathname, '..', '..', '..');
/** What fresh-path.sh hides. */
export const NOT_ON_A_FRESH_MACHINE = [
  'getfattr',
  'setfattr',
  'bwrap',
  'debootstrap',
  'qemu-aarch64-static',
  'qemu-arm-static',
  'buildah',
  'skopeo',
  'umoci',
  'docker-registry',
];

let cached: Promise<string> | undefined;
const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function freshPath(): Promise<string> {
  cached ??= (async () => {
    const script = join(repoRoot, '..', 'shared', 'tools', 'fresh-path.sh');
    if (existsSync(script)) {
      // Its own directory, so that a concurrent test process's call cannot pull it away.
      const own = await mkdtemp(join(tmpdir(), 'gantry-fresh-path-'));
      made.push(own);
      const { stdout } = await promisify(execFile)('bash', [script], { env: { ...process.env, TMPDIR: own } });
      return stdout.trim();
    }
    const dir = await mkdtemp(join(tmpdir(), 'gantry-fresh-path-'));
    made.push(dir);
    const hide = new Set(NOT_ON_A_FRESH_MACHINE);
    await mkdir(dir, { recursive: true });
    for (const d of (process.env.PATH ?? '').split(':')) {
      if (!d || !existsSync(d)) continue;
      for (const name of await readdir(d).catch(() => [] as string[])) {
        if (hide.has(name) || existsSync(join(dir, name))) continue;
        await symlink(join(d, name), join(dir, name));
      }
    }
    return dir;
  })();
  return cached;
}
