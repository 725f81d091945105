// Layers written by other tools, generated at test time by those tools (GNU tar, python's
// tarfile, umoci), so the reader and extraction are not only proven to agree with gantry's own
// writer. Each test reads the archive with readTar (what the entries are) and extracts it (what
// lands on disk), and checks the result against the source tree the tool archived.
import assert from 'node:assert/strict';
import {
  createReadStream,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { extractLayer, readTar, type TarEntry } from '../../src/layer/index.js';
import { bufferStream, readAll, run, sh, snapshot, tempDir } from './helpers.js';

interface Read {
  readonly entry: TarEntry;
  readonly content: Buffer;
}

async function readEntries(tar: string | Buffer): Promise<Read[]> {
  const out: Read[] = [];
  const source = typeof tar === 'string' ? createReadStream(tar) : bufferStream(tar);
  for await (const { entry, body } of readTar(source)) out.push({ entry, content: await readAll(body) });
  return out;
}

function byPath(entries: readonly Read[], path: string): Read {
  const found = entries.find((e) => e.entry.path === path);
  assert.ok(found, `no entry ${path} in ${entries.map((e) => e.entry.path).join(', ')}`);
  return found;
}

/** A small tree with a file, an executable, a symlink and a hardlink. */
function sourceTree(dir: string): void {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'etc', 'greeting'), 'hello\n');
  writeFileSync(join(dir, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  symlinkSync('tool', join(dir, 'bin', 'alias'));
  sh(`ln ${join(dir, 'bin', 'tool')} ${join(dir, 'bin', 'tool-link')}`);
}

test('GNU tar with ./ prefixes: the root entry is the root, everything else lands as archived', async (t) => {
  const dir = tempDir(t);
  sourceTree(join(dir, 'src'));
  sh(`tar --format=gnu -cf ${dir}/l.tar -C ${dir}/src .`);
  const entries = await readEntries(join(dir, 'l.tar'));
  assert.equal(entries[0]?.entry.path, '.');
  assert.equal(byPath(entries, 'etc/greeting').content.toString(), 'hello\n');
  const links = entries.filter((e) => e.entry.type === 'hardlink');
  assert.equal(links.length, 1, 'GNU tar writes the second name of a file as a hardlink to the first');
  assert.match(links[0]?.entry.linkname ?? '', /^bin\/tool(-link)?$/);

  const out = join(dir, 'out');
  await extractLayer(createReadStream(join(dir, 'l.tar')), out);
  assert.deepEqual(snapshot(out), snapshot(join(dir, 'src')));
  assert.equal(statSync(join(out, 'bin', 'tool')).ino, statSync(join(out, 'bin', 'tool-link')).ino);
});

test('GNU tar -P absolute names (and absolute hardlink targets) are taken relative to the root', async (t) => {
  const dir = tempDir(t);
  sourceTree(join(dir, 'src'));
  sh(`tar --format=gnu -cPf ${dir}/l.tar ${dir}/src/etc ${dir}/src/bin`);
  const entries = await readEntries(join(dir, 'l.tar'));
  assert.ok(
    entries.every((e) => e.entry.path.startsWith('/')),
    'GNU tar -P keeps the leading /',
  );
  assert.ok(entries.some((e) => e.entry.type === 'hardlink' && e.entry.linkname?.startsWith('/')));

  const out = join(dir, 'out');
  await extractLayer(createReadStream(join(dir, 'l.tar')), out);
  assert.deepEqual(readdirSync(out), [dir.split('/')[1]]);
  assert.deepEqual(snapshot(join(out, dir, 'src')), snapshot(join(dir, 'src')));
});

test('GNU tar long names and long link targets (././@LongLink L and K records)', async (t) => {
  const dir = tempDir(t);
  const deep = Array.from({ length: 6 }, (_, i) => `directory-number-${i}-with-a-long-name`).join('/');
  mkdirSync(join(dir, 'src', deep), { recursive: true });
  const name = `${deep}/${'f'.repeat(120)}`;
  writeFileSync(join(dir, 'src', name), 'deep');
  symlinkSync(`/${name}`, join(dir, 'src', 'link'));
  sh(`tar --format=gnu -cf ${dir}/l.tar -C ${dir}/src .`);
  assert.match(readFileSync(join(dir, 'l.tar')).toString('latin1'), /@LongLink/);
  const entries = await readEntries(join(dir, 'l.tar'));
  assert.equal(byPath(entries, name).content.toString(), 'deep');
  assert.equal(byPath(entries, 'link').entry.linkname, `/${name}`);

  const out = join(dir, 'out');
  await extractLayer(createReadStream(join(dir, 'l.tar')), out);
  assert.deepEqual(snapshot(out), snapshot(join(dir, 'src')));
});

test('GNU tar --sparse files (old GNU and PAX 1.0) read back as their full content', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'src'));
  // Two data regions, a hole between them and a hole at the end.
  sh(
    `cd ${dir}/src && truncate -s 3M sparse && printf start | dd of=sparse conv=notrunc 2>/dev/null && ` +
      `printf middle | dd of=sparse bs=1 seek=1572864 conv=notrunc 2>/dev/null`,
  );
  const expected = readFileSync(join(dir, 'src', 'sparse'));
  for (const format of ['gnu', 'posix']) {
    sh(`tar --sparse --format=${format} -cf ${dir}/${format}.tar -C ${dir}/src sparse`);
    const tarBytes = statSync(join(dir, `${format}.tar`)).size;
    assert.ok(tarBytes < 64 * 1024, `${format}: tar stored the holes (${tarBytes} bytes)`);
    const entries = await readEntries(join(dir, `${format}.tar`));
    assert.deepEqual(
      entries.map((e) => [e.entry.path, e.entry.type, e.entry.size]),
      [['sparse', 'file', expected.length]],
      format,
    );
    assert.ok(entries[0]?.content.equals(expected), `${format}: content differs`);
    const out = join(dir, `out-${format}`);
    await extractLayer(createReadStream(join(dir, `${format}.tar`)), out);
    assert.ok(readFileSync(join(out, 'sparse')).equals(expected));
  }
});

test('GNU tar --xattrs (PAX SCHILY.xattr records) are read with the entry', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'f'), 'x');
  sh(`setfattr -n user.gantry.test -v value ${dir}/src/f`);
  sh(`tar --format=posix --xattrs --xattrs-include='*' -cf ${dir}/l.tar -C ${dir}/src f`);
  const entries = await readEntries(join(dir, 'l.tar'));
  assert.equal(byPath(entries, 'f').entry.xattrs?.['user.gantry.test']?.toString(), 'value');
  const out = join(dir, 'out');
  await extractLayer(createReadStream(join(dir, 'l.tar')), out);
  assert.equal(readFileSync(join(out, 'f'), 'utf8'), 'x');
});

const PYTHON_TAR = `
import io, sys, tarfile
fmt = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT}[sys.argv[1]]
with tarfile.open(sys.argv[2], 'w', format=fmt) as tar:
    def add(name, data=None, **kw):
        info = tarfile.TarInfo(name)
        for k, v in kw.items(): setattr(info, k, v)
        if data is not None: info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    add('dir', type=tarfile.DIRTYPE, mode=0o750)
    add('dir/' + 'long-' * 40 + 'name', b'long name')
    add('dir/caf\\u00e9-\\u00fcnicode', b'unicode')
    add('dir/big-ids', b'ids', uid=3000000, gid=3000001, mode=0o4755)
    add('dir/link', type=tarfile.SYMTYPE, linkname='/' + 'target-' * 30)
    add('dir/hard', type=tarfile.LNKTYPE, linkname='dir/big-ids')
`;

test('python tarfile archives (PAX and GNU format): long and non-ASCII names, big ids, links', async (t) => {
  const dir = tempDir(t);
  for (const format of ['pax', 'gnu']) {
    const file = join(dir, `${format}.tar`);
    const res = run('python3', ['-c', PYTHON_TAR, format, file]);
    assert.equal(res.status, 0, res.stderr);
    const entries = await readEntries(file);
    const long = `dir/${'long-'.repeat(40)}name`;
    assert.equal(byPath(entries, long).content.toString(), 'long name', format);
    assert.equal(byPath(entries, 'dir/café-ünicode').content.toString(), 'unicode', format);
    const ids = byPath(entries, 'dir/big-ids').entry;
    assert.deepEqual([ids.uid, ids.gid, ids.mode], [3000000, 3000001, 0o4755], format);
    assert.equal(byPath(entries, 'dir/link').entry.linkname, `/${'target-'.repeat(30)}`);
    assert.equal(byPath(entries, 'dir/hard').entry.linkname, 'dir/big-ids');

    const out = join(dir, `out-${format}`);
    await extractLayer(createReadStream(file), out, { owners: false });
    assert.equal(readFileSync(join(out, long), 'utf8'), 'long name');
    assert.equal(readFileSync(join(out, 'dir/café-ünicode'), 'utf8'), 'unicode');
    assert.equal(statSync(join(out, 'dir/big-ids')).mode & 0o7777, 0o4755);
    assert.equal(statSync(join(out, 'dir/hard')).ino, statSync(join(out, 'dir/big-ids')).ino);
    assert.equal(statSync(join(out, 'dir')).mode & 0o7777, 0o750);
  }
});

/** The uncompressed layer of a fresh `umoci init/new/insert DIR /` image. */
function umociLayer(dir: string, rootfs: string): Buffer {
  sh(`umoci init --layout ${dir}/img && umoci new --image ${dir}/img:base`);
  sh(`umoci insert --image ${dir}/img:base ${rootfs} /`);
  const index = JSON.parse(readFileSync(join(dir, 'img', 'index.json'), 'utf8'));
  const blob = (digest: string) => readFileSync(join(dir, 'img', 'blobs', ...digest.split(':')));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  return gunzipSync(blob(manifest.layers[0].digest));
}

test('umoci insert layers: a root entry named "/" and no padding or end-of-archive blocks', async (t) => {
  const dir = tempDir(t);
  sourceTree(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'zlast'), 'odd-sized last file');
  const layer = umociLayer(dir, join(dir, 'src'));
  // The shape that gantry refused: the stream stops right after the last file's data.
  assert.notEqual(layer.length % 512, 0, 'umoci no longer cuts the stream short; the fixture proves nothing');
  const entries = await readEntries(layer);
  assert.equal(entries[0]?.entry.path, '/');
  assert.equal(byPath(entries, 'zlast').content.toString(), 'odd-sized last file');

  const out = join(dir, 'out');
  await extractLayer(bufferStream(layer), out);
  assert.deepEqual(snapshot(out), snapshot(join(dir, 'src')));
  // Cut inside the last entry's data: still refused.
  await assert.rejects(extractLayer(bufferStream(layer.subarray(0, layer.length - 3)), join(dir, 'cut')), {
    code: 'TAR_TRUNCATED',
  });
});

test('a stream cut inside the final padding or the end-of-archive blocks is complete; one cut inside a header is not', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'a'), 'abc');
  writeFileSync(join(dir, 'src', 'b'), 'defg');
  sh(`tar --format=ustar -cf ${dir}/l.tar -C ${dir}/src a b`);
  const full = readFileSync(join(dir, 'l.tar'));
  // header a, data a, header b, data b (4 bytes + 508 padding), then zero blocks.
  const bData = 512 * 3;
  for (const cut of [bData + 4, bData + 100, bData + 512, bData + 512 + 700]) {
    const entries = await readEntries(full.subarray(0, cut));
    assert.deepEqual(
      entries.map((e) => [e.entry.path, e.content.toString()]),
      [
        ['a', 'abc'],
        ['b', 'defg'],
      ],
      `cut at ${cut}`,
    );
  }
  await assert.rejects(readEntries(full.subarray(0, bData - 200)), { code: 'TAR_TRUNCATED' });
  await assert.rejects(readEntries(full.subarray(0, bData + 2)), { code: 'TAR_TRUNCATED' });
});

test('GNU tar opaque whiteout (.wh..wh..opq) hides the lower directory, keeps what the layer adds', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'lower', 'd'), { recursive: true });
  writeFileSync(join(dir, 'lower', 'd', 'old'), 'old');
  writeFileSync(join(dir, 'lower', 'keep'), 'keep');
  mkdirSync(join(dir, 'upper', 'd'), { recursive: true });
  writeFileSync(join(dir, 'upper', 'd', '.wh..wh..opq'), '');
  writeFileSync(join(dir, 'upper', 'd', 'new'), 'new');
  sh(`tar -cf ${dir}/lower.tar -C ${dir}/lower . && tar -cf ${dir}/upper.tar -C ${dir}/upper .`);
  const out = join(dir, 'out');
  await extractLayer(createReadStream(join(dir, 'lower.tar')), out);
  await extractLayer(createReadStream(join(dir, 'upper.tar')), out);
  assert.deepEqual(readdirSync(join(out, 'd')), ['new']);
  assert.equal(readFileSync(join(out, 'keep'), 'utf8'), 'keep');
  assert.ok(lstatSync(join(out, 'd')).isDirectory());
});
