// Issue 8, item 9: a layer with a hardlink to a file that only a lower layer has. `-o type=local`
// (all layers into one directory) and buildah (overlay copy-up) accept it; the layer cache, which
// extracts each layer into its own directory, failed with EXTRACT_LINK_TARGET_MISSING, so RUN and
// COPY --from on such an image failed. Filesystems (what RUN and COPY --from stand on) now copies
// the lower file up into the layer and links it there, as overlayfs applies the layer.
import assert from 'node:assert/strict';
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { LayerCache } from '../../../src/engine/snapshot/index.js';
import { Filesystems } from '../../../src/engine/solver/rootfs.js';
import type { TarInput } from '../../../src/layer/tar/types.js';
import { Store } from '../../../src/store/store.js';
import { entriesOf, layerOf, tempDir } from '../snapshot/helpers.js';

function file(path: string, text: string, mode = 0o755): TarInput {
  const body = Buffer.from(text);
  return { entry: { path, type: 'file', mode, uid: 0, gid: 0, mtime: 1_000, size: body.length }, body };
}
function dir(path: string): TarInput {
  return { entry: { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_000, size: 0 } };
}
function hardlink(path: string, linkname: string): TarInput {
  return { entry: { path, type: 'hardlink', linkname, mode: 0o755, uid: 0, gid: 0, mtime: 1_000, size: 0 } };
}

test('a hardlink to a file in a lower layer extracts for RUN and COPY --from (copied up, then linked)', async (t) => {
  const scratch = await tempDir(t);
  const bottom = await layerOf(scratch, 'bottom', [dir('bin'), file('bin/tool', 'the tool\n'), file('gone', 'g')]);
  const hidden = await layerOf(scratch, 'hidden', [file('.wh.gone', '', 0o600)]);
  const top = await layerOf(scratch, 'top', [dir('bin'), hardlink('bin/alias', 'bin/tool'), dir('usr')]);

  // Alone, the top layer names a target it does not have: still an error without its lowers.
  await assert.rejects(new LayerCache(join(scratch, 'alone')).ensureExtracted(top), {
    code: 'EXTRACT_LINK_TARGET_MISSING',
  });

  for (const snapshotter of ['walk', 'overlay'] as const) {
    const store = await Store.open({ dir: join(scratch, `store-${snapshotter}`) });
    const fs = new Filesystems(store, { snapshotter });
    if (snapshotter === 'overlay' && (await fs.snapshotter()).kind !== 'overlay') continue;
    await fs.with([bottom, hidden, top], async (snap) => {
      assert.equal(await readFile(join(snap.root, 'bin', 'alias'), 'utf8'), 'the tool\n', snapshotter);
      const [a, b] = [await lstat(join(snap.root, 'bin', 'alias')), await lstat(join(snap.root, 'bin', 'tool'))];
      assert.equal(a.ino, b.ino, `${snapshotter}: alias and tool are one file`);
      // What a RUN step then writes: only what it changed.
      await writeFile(join(snap.root, 'new'), 'x');
      const entries = await entriesOf(snap.commit());
      assert.deepEqual(
        entries.map((e) => e.path),
        ['new'],
        snapshotter,
      );
    });
  }

  // A hardlink to a file that a higher layer removed is still refused.
  const toGone = await layerOf(scratch, 'to-gone', [hardlink('alias2', 'gone')]);
  const store = await Store.open({ dir: join(scratch, 'store-gone') });
  await assert.rejects(
    new Filesystems(store, { snapshotter: 'walk' }).with([bottom, hidden, toGone], async () => {}),
    {
      code: 'EXTRACT_LINK_TARGET_MISSING',
    },
  );
});
