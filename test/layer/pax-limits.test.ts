// Issue 8 item 11: PAX headers cost quadratic CPU (the reader joined its buffer with every 64 KiB
// chunk: one 7 MB header took 2.2 s, twenty 8 MB headers 17 s) and were allowed up to 8 MiB. Now a
// metadata header over 1 MiB is refused with a clear error (as Go's archive/tar, and so containerd,
// refuses it), and reading allowed ones copies each byte a bounded number of times: counted here by
// the bytes Buffer.concat copies, never by timing. The archives are written by python's tarfile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { readTar } from '../../src/layer/index.js';
import { MAX_META } from '../../src/layer/tar/reader.js';
import { tempDir } from './helpers.js';

/** A tar from python's tarfile: `count` small files, each with a PAX `comment` of `paxBytes`. */
function pythonTar(dir: string, count: number, paxBytes: number, format: 'pax' | 'gnu-longname' = 'pax'): Buffer {
  const out = join(dir, `t-${count}-${paxBytes}-${format}.tar`);
  const script = `
import io, sys, tarfile
out, count, size, fmt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with tarfile.open(out, 'w', format=tarfile.GNU_FORMAT if fmt == 'gnu-longname' else tarfile.PAX_FORMAT) as t:
    for i in range(count):
        name = ('n' * size + str(i)) if fmt == 'gnu-longname' else 'f%d' % i
        info = tarfile.TarInfo(name)
        if fmt == 'pax':
            info.pax_headers = {'comment': 'c' * size}
        data = b'x'
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
`;
  const r = spawnSync('python3', ['-c', script, out, String(count), String(paxBytes), format], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out);
}

/** The bytes in `data` as a stream of `chunk`-byte pieces (a network or gunzip would give small ones). */
function chunked(data: Buffer, chunk: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );
}

async function entries(source: Readable): Promise<string[]> {
  const names: string[] = [];
  for await (const { entry, body } of readTar(source)) {
    names.push(entry.path);
    body.resume();
  }
  return names;
}

test('a PAX header over 1 MiB is refused with a clear error', async (t) => {
  const tar = pythonTar(tempDir(t, 'gantry-pax-'), 1, MAX_META + 1024);
  await assert.rejects(entries(chunked(tar, 64 * 1024)), (err: unknown) => {
    const e = err as { code?: string; message?: string };
    assert.equal(e.code, 'TAR_HEADER_TOO_LARGE');
    assert.match(e.message ?? '', /PAX header of \d+ bytes is over the limit of 1048576 bytes/);
    return true;
  });
});

test('a GNU long name over 1 MiB is refused with a clear error', async (t) => {
  const tar = pythonTar(tempDir(t, 'gantry-pax-'), 1, MAX_META + 1024, 'gnu-longname');
  await assert.rejects(entries(chunked(tar, 64 * 1024)), {
    code: 'TAR_HEADER_TOO_LARGE',
    message: /GNU long name of \d+ bytes/,
  });
});

test('many large-but-allowed PAX headers are read with linear copying', async (t) => {
  // Twenty headers of 900 KiB, delivered 4 KiB at a time. Joining the buffer with every chunk
  // copied about 900 KiB^2 / 8 KiB ~ 100 MB per header (2 GB in all); joining once per read
  // copies each header once.
  const count = 20;
  const tar = pythonTar(tempDir(t, 'gantry-pax-'), count, 900 * 1024);
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], totalLength?: number) => {
    const out = concat(list, totalLength);
    copied += out.length;
    return out;
  }) as typeof Buffer.concat;
  let names: string[];
  try {
    names = await entries(chunked(tar, 4096));
  } finally {
    Buffer.concat = concat;
  }
  assert.equal(names.length, count);
  assert.ok(copied <= 2 * tar.length, `copied ${copied} bytes for a ${tar.length}-byte archive`);
});
