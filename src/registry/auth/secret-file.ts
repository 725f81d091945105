/**
 * Writes a file that holds secrets: mode 0600 from the first byte, temp file + fsync + rename,
 * through a symlinked path to its target (dotfile managers and Kubernetes mounts link
 * config.json; replacing the link with a file would silently fork the config).
 */
import { mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IoOptions } from '../../errors.js';
import { tempPathFor } from '../../util/fs.js';

export async function writeSecretFileAtomic(path: string, data: string, options: IoOptions = {}): Promise<void> {
  let target = path;
  try {
    target = await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const tmp = tempPathFor(target);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data, { signal: options.signal });
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
