// Issue 8: a device node in a stage is kept on disk as a placeholder (an empty file with the
// gantry device mark), never as a usable device. COPY --from of it copied an empty regular file;
// like BuildKit copying a device node from a stage, it must write the device entry, with its type,
// numbers and mode, for a single file and inside a copied directory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxStore, gantry, withTempDir, writeTree } from './helpers.js';

const isRoot = process.getuid?.() === 0;

test('copy-from-stage-carries-device-placeholder-as-device', {
  skip: !isRoot && 'mknod in RUN needs root',
}, async () => {
  await withTempDir(async (tmp) => {
    const store = await busyboxStore(tmp);
    const ctx = join(tmp, 'ctx');
    await writeTree(ctx, {
      Dockerfile: [
        'FROM busybox:1 AS devs',
        'RUN mknod /nul c 1 3 && chmod 0640 /nul && mkdir /d && mknod /d/loop b 7 0',
        'FROM scratch',
        'COPY --from=devs /nul /nul',
        'COPY --from=devs /d /d',
        '',
      ].join('\n'),
    });
    const tar = join(tmp, 'fs.tar');
    const r = await gantry(['build', ctx, '-o', `type=tar,dest=${tar}`], { store });
    assert.equal(r.code, 0, r.stderr);
    // Read back by python's tarfile, not by our own reader.
    const listing = execFileSync('python3', [
      '-c',
      'import sys,tarfile\nfor m in tarfile.open(sys.argv[1]):\n  print(m.name, m.type.decode(), oct(m.mode), m.devmajor, m.devminor, m.size)',
      tar,
    ]).toString();
    assert.match(listing, /^nul 3 0o640 1 3 0$/m, `a char device 1:3, mode 0640:\n${listing}`);
    assert.match(listing, /^d\/loop 4 0o644 7 0 0$/m, `a block device 7:0 inside the copied directory:\n${listing}`);
  });
});
