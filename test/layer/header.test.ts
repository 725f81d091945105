// Pure tests of the ustar header and PAX record codecs: the byte layout, every overflow rule
// (base-256 numbers, prefix split, PAX fallback) and the old formats the decoder must accept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BLOCK_SIZE,
  decodeHeader,
  decodePax,
  EntryAssembler,
  encodeHeader,
  encodePax,
  type HeaderFields,
} from '../../src/layer/index.js';

const base: HeaderFields = {
  name: 'file.txt',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 0,
  typeflag: '0',
  linkname: '',
  uname: '',
  gname: '',
  devmajor: 0,
  devminor: 0,
};

function paxKeys(h: Partial<HeaderFields>): string[] {
  return encodeHeader({ ...base, ...h }).pax.map(([k]) => k);
}

test('a plain header round-trips and carries ustar magic and a valid checksum', () => {
  const fields = {
    ...base,
    name: 'a/b',
    mode: 0o4755,
    uid: 1000,
    gid: 100,
    size: 12345,
    mtime: 1700000000,
    uname: 'u',
    gname: 'g',
  };
  const { block, pax } = encodeHeader(fields);
  assert.equal(block.length, BLOCK_SIZE);
  assert.deepEqual(pax, []);
  assert.equal(block.toString('latin1', 257, 265), 'ustar\u000000');
  assert.deepEqual(decodeHeader(block), { ...fields, format: 'ustar' });
});

test('a corrupted header is refused by its checksum', () => {
  const { block } = encodeHeader(base);
  block[0] = 0x41;
  assert.throws(() => decodeHeader(block), { code: 'TAR_BAD_HEADER' });
});

test('an all-zero block decodes as end of archive', () => {
  assert.equal(decodeHeader(Buffer.alloc(BLOCK_SIZE)), null);
});

test('a size above 8 GiB - 1 is written base-256 in the header and as a PAX size record', () => {
  const nine = 9 * 1024 ** 3;
  const limit = 8 ** 11 - 1;
  assert.deepEqual(paxKeys({ size: limit }), []);
  const { block, pax } = encodeHeader({ ...base, size: nine });
  assert.deepEqual(pax, [['size', String(nine)]]);
  assert.equal(block[124], 0x80, 'base-256 marker');
  assert.equal(decodeHeader(block)?.size, nine);
});

test('uid/gid above 07777777 get base-256 and PAX records', () => {
  const { block, pax } = encodeHeader({ ...base, uid: 0o7777777 + 1, gid: 3_000_000 });
  assert.deepEqual(
    pax.map(([k]) => k),
    ['uid', 'gid'],
  );
  const h = decodeHeader(block);
  assert.equal(h?.uid, 0o7777777 + 1);
  assert.equal(h?.gid, 3_000_000);
  assert.deepEqual(paxKeys({ uid: 0o7777777 }), []);
});

test('a negative or fractional mtime is kept via base-256 and a PAX mtime', () => {
  const { block, pax } = encodeHeader({ ...base, mtime: -86400 });
  assert.deepEqual(pax, [['mtime', '-86400']]);
  assert.equal(decodeHeader(block)?.mtime, -86400);
  assert.deepEqual(encodeHeader({ ...base, mtime: 1.5 }).pax, [['mtime', '1.5']]);
});

test('a name over 100 bytes is split into ustar prefix and name when a slash allows it', () => {
  const name = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
  const { block, pax } = encodeHeader({ ...base, name });
  assert.deepEqual(pax, []);
  assert.equal(block.toString('latin1', 345, 465), 'd'.repeat(120));
  assert.equal(decodeHeader(block)?.name, name);
});

test('names that cannot be split (over 255 bytes, or no usable slash) need a PAX path', () => {
  assert.deepEqual(paxKeys({ name: 'x'.repeat(101) }), ['path']);
  assert.deepEqual(paxKeys({ name: `${'a/'.repeat(150)}f` }), ['path']);
  assert.deepEqual(paxKeys({ name: `${'d'.repeat(156)}/f` }), ['path'], 'prefix longer than 155');
  assert.deepEqual(paxKeys({ name: `d/${'f'.repeat(101)}` }), ['path'], 'name part longer than 100');
});

test('non-ASCII names, long link targets and long or non-ASCII user names go to PAX', () => {
  assert.deepEqual(paxKeys({ name: 'héllo' }), ['path']);
  assert.deepEqual(paxKeys({ typeflag: '2', linkname: 'l'.repeat(101) }), ['linkpath']);
  assert.deepEqual(paxKeys({ typeflag: '2', linkname: 'cible-é' }), ['linkpath']);
  assert.deepEqual(paxKeys({ uname: 'u'.repeat(32), gname: 'grüppe' }), ['uname', 'gname']);
  assert.deepEqual(paxKeys({ uname: 'u'.repeat(31) }), []);
});

test('the same fields always encode to the same bytes', () => {
  const h = { ...base, name: 'ü'.repeat(80), size: 10 * 1024 ** 3, uid: 1 << 30 };
  const a = encodeHeader(h);
  const b = encodeHeader(h);
  assert.ok(a.block.equals(b.block));
  assert.ok(encodePax(a.pax).equals(encodePax(b.pax)));
});

function oldHeader(magic: 'gnu' | 'v7', name: string, typeflag: string, size = 0): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  block.write(name, 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('00000000000\0', 136, 'latin1');
  block.write(typeflag, 156, 'latin1');
  if (magic === 'gnu') {
    block.write('ustar  \0', 257, 'latin1');
    block.write('root', 265, 'latin1');
    // Old GNU keeps atime/ctime where ustar has its prefix: it must not be read as a prefix.
    block.write('14000000000\0', 345, 'latin1');
  }
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

test('old GNU headers decode without treating atime/ctime as a name prefix', () => {
  const h = decodeHeader(oldHeader('gnu', 'dir/file', '0', 5));
  assert.equal(h?.format, 'gnu');
  assert.equal(h?.name, 'dir/file');
  assert.equal(h?.uname, 'root');
  assert.equal(h?.size, 5);
});

test('v7 headers decode, and a v7 regular file named with a trailing slash is a directory', () => {
  const h = decodeHeader(oldHeader('v7', 'olddir/', '\0'));
  assert.equal(h?.format, 'v7');
  assert.equal(h?.typeflag, '0');
  const outcome = new EntryAssembler().entry(h as NonNullable<typeof h>);
  assert.equal(outcome.kind, 'entry');
  assert.equal(outcome.kind === 'entry' && outcome.entry.type, 'directory');
  assert.equal(outcome.kind === 'entry' && outcome.entry.path, 'olddir');
});

test('PAX records round-trip, including binary values and lengths that change digit count', () => {
  for (const n of [0, 1, 5, 6, 7, 8, 88, 89, 90, 91, 985, 986, 987, 988]) {
    const records = [['k', 'v'.repeat(n)] as const];
    const data = encodePax(records);
    const len = Number(data.toString('latin1').split(' ')[0]);
    assert.equal(len, data.length, `record length counts itself for value of ${n} bytes`);
    assert.equal(decodePax(data).get('k')?.toString(), 'v'.repeat(n));
  }
  const binary = Buffer.from([0, 10, 61, 255, 32]);
  const decoded = decodePax(
    encodePax([
      ['path', 'é/x'],
      ['SCHILY.xattr.user.bin', binary],
    ]),
  );
  assert.equal(decoded.get('path')?.toString('utf8'), 'é/x');
  assert.deepEqual(decoded.get('SCHILY.xattr.user.bin'), binary);
});

test('malformed PAX data is refused', () => {
  assert.throws(() => decodePax(Buffer.from('99 path=x\n')), { code: 'TAR_BAD_PAX' });
  assert.throws(() => decodePax(Buffer.from('10 pathxyz\n')), { code: 'TAR_BAD_PAX' });
  assert.throws(() => decodePax(Buffer.from('abc path=x\n')), { code: 'TAR_BAD_PAX' });
  assert.throws(() => encodePax([['a=b', 'x']]), { code: 'TAR_BAD_PAX' });
});

test('PAX x overrides header fields, g persists across entries, and an empty value unsets', () => {
  const asm = new EntryAssembler();
  const hdr = (name: string) =>
    decodeHeader(encodeHeader({ ...base, name, uid: 5 }).block) as NonNullable<ReturnType<typeof decodeHeader>>;
  const meta = (typeflag: string) => ({ ...hdr('PaxHeaders/x'), typeflag });
  asm.meta(
    meta('g'),
    encodePax([
      ['uname', 'globaluser'],
      ['gid', '77'],
    ]),
  );
  asm.meta(
    meta('x'),
    encodePax([
      ['path', 'long/é'],
      ['uid', '123456789'],
      ['gid', ''],
    ]),
  );
  const first = asm.entry(hdr('short'));
  assert.ok(first.kind === 'entry');
  assert.equal(first.entry.path, 'long/é');
  assert.equal(first.entry.uid, 123456789);
  assert.equal(first.entry.gid, 0, 'empty x value falls back to the header field');
  assert.equal(first.entry.uname, 'globaluser');
  const second = asm.entry(hdr('next'));
  assert.ok(second.kind === 'entry');
  assert.equal(second.entry.path, 'next');
  assert.equal(second.entry.uid, 5);
  assert.equal(second.entry.gid, 77, 'global record persists');
});

test('GNU L/K long names apply to the next entry only', () => {
  const asm = new EntryAssembler();
  const link = decodeHeader(encodeHeader({ ...base, name: 'short', typeflag: '2', linkname: 'tgt' }).block)!;
  const meta = decodeHeader(encodeHeader({ ...base, name: '././@LongLink', typeflag: 'L' }).block)!;
  asm.meta(meta, Buffer.from(`${'n'.repeat(300)}\0`));
  asm.meta({ ...meta, typeflag: 'K' }, Buffer.from(`${'t'.repeat(200)}\0`));
  const e = asm.entry(link);
  assert.ok(e.kind === 'entry');
  assert.equal(e.entry.path, 'n'.repeat(300));
  assert.equal(e.entry.linkname, 't'.repeat(200));
  const again = asm.entry(link);
  assert.ok(again.kind === 'entry');
  assert.equal(again.entry.path, 'short');
});

test('an old GNU sparse header is never read as a plain file without its map', () => {
  // The reader passes the map from the header and its extension blocks (test/layer/fixtures-*).
  const asm = new EntryAssembler();
  assert.throws(() => asm.entry(decodeHeader(oldHeader('gnu', 'sparse', 'S'))!), { code: 'TAR_BAD_SPARSE' });
});
