/**
 * ADD's layer entries: local tar archives (gzip, zstd or plain) among the sources are unpacked
 * into the destination, keeping the owners and modes the archive holds unless `--chown` is given
 * (as BuildKit and buildah do); every other source is copied as COPY copies it. The destination
 * and its parents follow COPY's rule: those that exist keep their metadata, those ADD creates are
 * 0755 and owned by `--chown` (else root). An archive's own root entry (`./`) never changes the
 * destination.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { throwIfAborted } from '../../errors.js';
import { extractLayer } from '../../layer/extract.js';
import { decompressStream } from '../../layer/layer.js';
import { readTar } from '../../layer/tar/reader.js';
import type { TarInput } from '../../layer/tar/types.js';
import { sourceDateEpoch, walkDirectory } from '../../layer/walk.js';
import { ownerTag } from '../../store/cleanup.js';
import { mkdirp } from '../../util/fs.js';
import { type CopyEntriesOptions, copyEntries } from './copy.js';
import type { CopyPlan, CopyPlanEntry } from './sources.js';

function isArchiveMagic(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true; // gzip
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return true;
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true; // xz
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return true; // zstd
  return head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar';
}

async function readHead(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of createReadStream(path, { start: 0, end: 511 })) {
    chunks.push(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks, n);
}

/** An archive member's path as extraction places it ('' for the archive's root). */
function memberPath(path: string): string {
  const normalized = posix.normalize(`/${path}`).replace(/\/+$/, '');
  return normalized.slice(1);
}

/** Who owns each path the archives write, in the layer's terms (later archives win, as on extraction). */
async function archiveOwners(
  archives: readonly CopyPlanEntry[],
  destRel: string,
  signal: AbortSignal | undefined,
): Promise<Map<string, { uid: number; gid: number }>> {
  const owners = new Map<string, { uid: number; gid: number }>();
  for (const a of archives) {
    // Read again rather than chowned on extraction: that needs root, this does not.
    const tar = await decompressStream(createReadStream(a.source));
    for await (const { entry } of readTar(tar, { signal })) {
      const member = memberPath(entry.path);
      if (member === '') continue;
      owners.set(destRel === '' ? member : `${destRel}/${member}`, { uid: entry.uid, gid: entry.gid });
    }
  }
  return owners;
}

/** The layer entries of an ADD of `plan` from local files (see the module header). */
export async function* addEntries(plan: CopyPlan, options: CopyEntriesOptions = {}): AsyncGenerator<TarInput> {
  const { signal } = options;
  const archives: CopyPlanEntry[] = [];
  const plain: CopyPlanEntry[] = [];
  for (const entry of plan.entries) {
    throwIfAborted(signal);
    if (entry.type === 'file' && isArchiveMagic(await readHead(entry.source))) archives.push(entry);
    else plain.push(entry);
  }
  if (archives.length === 0) {
    yield* copyEntries(plan, options);
    return;
  }
  const destParts = plan.dest.split('/').filter(Boolean);
  const destRel = destParts.join('/');
  // Unpack each archive into a staging tree placed at dest, then one walk makes the entries.
  const stage = await mkdtemp(join(tmpdir(), `gantry-add-${ownerTag()}-`));
  try {
    await mkdirp(join(stage, 'root', ...destParts));
    for (const a of archives) {
      const tar = await decompressStream(createReadStream(a.source));
      await extractLayer(tar, join(stage, 'root', ...destParts), { owners: false, whiteouts: 'keep', signal });
    }
    const owners = options.chown ? undefined : await archiveOwners(archives, destRel, signal);
    const created = options.chown ?? { uid: 0, gid: 0 };
    const mtime = options.mtime ?? sourceDateEpoch() ?? 0;
    // The destination and its parents: ADD passes through them, the archives do not describe them.
    const above = new Set(destParts.map((_, i) => destParts.slice(0, i + 1).join('/')));
    for await (const input of walkDirectory(join(stage, 'root'), { keepModes: true, mtime, signal })) {
      const e = input.entry;
      const path = e.path.replace(/\/+$/, '');
      if (above.has(path)) {
        const existing = options.existing?.(`/${path}`);
        yield {
          entry: {
            ...e,
            mode: existing?.mode ?? 0o755,
            uid: existing?.uid ?? created.uid,
            gid: existing?.gid ?? created.gid,
            mtime: existing?.mtime ?? mtime,
          },
        };
        continue;
      }
      const owner = options.chown ?? owners?.get(path) ?? { uid: 0, gid: 0 };
      yield { ...input, entry: { ...e, uid: owner.uid, gid: owner.gid } };
    }
    // Later entries win on extraction, so plain copies follow the unpacked trees.
    if (plain.length > 0) yield* copyEntries({ ...plan, entries: plain }, options);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
