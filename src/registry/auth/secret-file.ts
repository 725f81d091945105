/**
 * Writes a file that holds secrets: mode 0600 from the first byte, temp file + fsync + rename,
 * through a symlinked path to its target (dotfile managers and Kubernetes mounts link
 * config.json; replacing the link with a file would silently fork the config).
 */
import { realpath } from 'node:fs/promises';
import type { IoOptions } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';

export async function writeSecretFileAtomic(path: string, data: string, options: IoOptions = {}): Promise<void> {
  let target = path;
  try {
    target = await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFileAtomic(target, data, { ...options, mode: 0o600, dirMode: 0o700 });
}
