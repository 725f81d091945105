// Issue 8 item 8: `-o type=tar` passed hostile entries of a base image through (`../x`, `/abs`,
// hard links to /etc/passwd) while the directory export refused them. One test per attack, named
// after it; the hostile layers are written by python's tarfile (not by gantry's own writer), and
// every test checks both output forms: the same refusal or the same confinement (issue 9: an
// absolute name lands under the root, a climbing symlink stops at it), and no output left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { exportRootfs } from '../../src/layer/archive/index.js';
import { digestOf } from '../../src/oci/digest.js';
import type { Image } from '../../src/oci/image.js';
import { newImage } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { MediaType } from '../../src/oci/types.js';
import { AMD64, dir, file, run, Workspace } from './fixtures.js';

let ws: Workspace;
before(async () => {
  ws = await Workspace.create();
});
after(async () => ws.dispose());

/**
 * A layer written by python's tarfile from `spec`: [name, kind, target?] with kind f (file holding
 * "pwned"), d (directory), s (symlink to target) or h (hardlink to target).
 */
async function pythonLayer(name: string, spec: readonly (readonly [string, 'f' | 'd' | 's' | 'h', string?])[]) {
  const out = ws.path(`${name}.tar`);
  const script = `
import io, json, sys, tarfile
spec = json.loads(sys.argv[2])
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
    for name, kind, *rest in spec:
        info = tarfile.TarInfo(name)
        info.mtime = 1700000000
        if kind == 'f':
            data = b'pwned\\n'
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
            continue
        info.type = {'d': tarfile.DIRTYPE, 's': tarfile.SYMTYPE, 'h': tarfile.LNKTYPE}[kind]
        info.mode = 0o755
        if rest:
            info.linkname = rest[0]
        t.addfile(info)
`;
  const r = spawnSync('python3', ['-c', script, out, JSON.stringify(spec)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const bytes = await readFile(out);
  const { digest, size } = await ws.layout.writeBlobBytes(bytes);
  assert.equal(digest, digestOf(bytes));
  return layerFromDescriptor(ws.layout, { mediaType: MediaType.OciLayer, digest, size }, digest);
}

/** busybox-like base (etc/passwd) with the hostile layer on top. */
async function hostileImage(name: string, spec: Parameters<typeof pythonLayer>[1]): Promise<Image> {
  const base = await ws.layer([dir('etc'), file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n')]);
  const top = await pythonLayer(name, spec);
  return newImage({ platform: AMD64, layers: [{ layer: base }, { layer: top }] });
}

/** Both forms refuse `image` with `code`, and neither leaves its destination behind. */
async function assertBothRefuse(name: string, image: Image, code: string): Promise<void> {
  const tarDest = ws.path(`${name}-out.tar`);
  await assert.rejects(exportRootfs(image, tarDest, { format: 'tar' }), { code });
  assert.equal(existsSync(tarDest), false, 'no tar output is left');
  const dirDest = ws.path(`${name}-out-dir`);
  await assert.rejects(exportRootfs(image, dirDest, { format: 'dir' }), { code });
  assert.equal(existsSync(dirDest), false, 'no directory output is left');
}

test('dot-dot escape: a base layer entry ../x is refused by the tar output as by extraction', async () => {
  await assertBothRefuse('dotdot', await hostileImage('dotdot', [['../x', 'f']]), 'UNSAFE_PATH');
  await assertBothRefuse('dotdot2', await hostileImage('dotdot2', [['a/../../x', 'f']]), 'UNSAFE_PATH');
});

/**
 * Both forms confine `image` the same way: each of `names` is in the tar (where extraction puts
 * it) and in the directory, and nothing lands beside the destination.
 */
async function assertBothConfine(name: string, image: Image, names: readonly string[]): Promise<void> {
  const tarDest = ws.path(`${name}-out.tar`);
  await exportRootfs(image, tarDest, { format: 'tar' });
  const listed = run('tar', ['-tf', tarDest]).trim().split('\n');
  for (const n of names) assert.ok(listed.includes(n), `${n} in ${listed.join(' ')}`);
  assert.ok(!listed.some((n) => n.startsWith('/') || n.split('/').includes('..')), listed.join(' '));
  const dirDest = ws.path(`${name}-out-dir`);
  await exportRootfs(image, dirDest, { format: 'dir' });
  for (const n of names) assert.ok(existsSync(`${dirDest}/${n}`), `${n} in the directory output`);
}

// Issue 9: absolute member names are taken relative to the root, as containerd reads them.
test('absolute name: a base layer entry /abs lands under the root in the tar output as in extraction', async () => {
  await assertBothConfine('abs', await hostileImage('abs', [['/abs', 'f']]), ['abs']);
  assert.equal(existsSync(ws.path('abs')), false);
});

test('hardlink to the host: a link to /etc/passwd is the image own file in both outputs; ../ is refused', async () => {
  const image = await hostileImage('hl-abs', [['x', 'h', '/etc/passwd']]);
  await assertBothConfine('hl-abs', image, ['x']);
  const listing = run('tar', ['-tvf', ws.path('hl-abs-out.tar')]);
  assert.match(listing, /x link to etc\/passwd/);
  assert.equal(await readFile(ws.path('hl-abs-out-dir/x'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n', 'the image file');
  await assertBothRefuse(
    'hl-dotdot',
    await hostileImage('hl-dotdot', [['x', 'h', '../../../etc/passwd']]),
    'UNSAFE_PATH',
  );
});

test('hardlink to nothing: a link to a path no earlier entry wrote is refused by both outputs', async () => {
  await assertBothRefuse(
    'hl-missing',
    await hostileImage('hl-missing', [['x', 'h', 'etc/shadow']]),
    'EXTRACT_LINK_TARGET_MISSING',
  );
});

test('hardlink to the image own /etc/passwd (relative) stays allowed in both outputs', async () => {
  const image = await hostileImage('hl-ok', [['passwd-copy', 'h', 'etc/passwd']]);
  const tarDest = ws.path('hl-ok.tar');
  await exportRootfs(image, tarDest, { format: 'tar' });
  const listing = run('tar', ['-tvf', tarDest]);
  assert.match(listing, /passwd-copy link to etc\/passwd/);
});

test('write through a symlink to /etc: the tar output names the entry where extraction puts it', async () => {
  const image = await hostileImage('through', [
    ['lib', 's', '/etc'],
    ['lib/evil', 'f'],
  ]);
  const dirDest = ws.path('through-dir');
  await exportRootfs(image, dirDest, { format: 'dir' });
  assert.equal(await readFile(`${dirDest}/etc/evil`, 'utf8'), 'pwned\n', 'extraction confines it to <root>/etc/evil');
  const tarDest = ws.path('through.tar');
  await exportRootfs(image, tarDest, { format: 'tar' });
  const names = run('tar', ['-tf', tarDest]).trim().split('\n');
  assert.ok(names.includes('etc/evil'), names.join(' '));
  assert.ok(!names.includes('lib/evil'), 'nothing is named through the symlink');
});

test('symlink climbing out: a name under a symlink to ../.. stops at the root in both outputs', async () => {
  const image = await hostileImage('climb', [
    ['up', 's', '../..'],
    ['up/x', 'f'],
  ]);
  await assertBothConfine('climb', image, ['x']);
  const names = run('tar', ['-tf', ws.path('climb-out.tar')])
    .trim()
    .split('\n');
  assert.ok(!names.includes('up/x'), 'nothing is named through the symlink');
  assert.equal(existsSync(ws.path('x')), false, 'nothing beside the destination');
});
