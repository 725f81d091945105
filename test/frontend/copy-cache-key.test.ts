// The cache key of COPY and ADD holds every input that decides what the step writes (issue 15,
// item 1): a table where each row changes exactly one input, and the step must miss the cache.
// Regression: with `sub/` holding only `subdirectory.tar.gz`, `ADD sub/ /` and
// `ADD sub/subdirectory.tar.gz /` read the same files at the same image paths, so they shared a
// key, and the second build was reported CACHED with the first one's unextracted archive.
// The table's 51 builds run through the library (gantry's build function, in this process, with
// its progress events) rather than 51 CLI processes: what is pinned is the solver's cache key, and
// each CLI start-up (module loading) cost more CPU than a cached build itself.
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildDockerfile } from '../../src/index.js';
import type { ProgressEvent } from '../../src/util/progress.js';
import { busyboxStore, gantry, tool, withTempDir, writeTree } from './helpers.js';

interface Row {
  readonly input: string;
  /** Dockerfile lines after `FROM busybox:1`; the last one is the step checked. */
  readonly before: string;
  readonly after: string;
  /** A change of the context between the two builds. */
  readonly change?: (ctx: string) => Promise<void>;
}

const ROWS: readonly Row[] = [
  {
    input: 'source path as written: a directory, then the archive inside it (ADD extracts only the latter)',
    before: 'ADD sub/ /',
    after: 'ADD sub/subdirectory.tar.gz /',
  },
  {
    input: 'source path as written: the same file named another way',
    before: 'COPY a.txt /d/',
    after: 'COPY ./a.txt /d/',
  },
  {
    input: 'a source that was a directory holding a same-named archive is now the archive itself',
    before: 'ADD pkg /',
    after: 'ADD pkg /',
    change: async (ctx) => {
      await rename(join(ctx, 'pkg', 'pkg'), join(ctx, 'pkg.tmp'));
      await rm(join(ctx, 'pkg'), { recursive: true });
      await rename(join(ctx, 'pkg.tmp'), join(ctx, 'pkg'));
    },
  },
  {
    input: 'file content',
    before: 'COPY a.txt /d/',
    after: 'COPY a.txt /d/',
    change: (ctx) => writeFile(join(ctx, 'a.txt'), 'alpha, edited\n'),
  },
  {
    input: 'file mode',
    before: 'COPY b.txt /d/',
    after: 'COPY b.txt /d/',
    change: (ctx) => chmod(join(ctx, 'b.txt'), 0o755),
  },
  {
    input: 'a file name inside a directory source',
    before: 'COPY dir/ /d/',
    after: 'COPY dir/ /d/',
    change: (ctx) => rename(join(ctx, 'dir', 'x'), join(ctx, 'dir', 'z')),
  },
  {
    input: 'a symlink target',
    before: 'COPY links/ /d/',
    after: 'COPY links/ /d/',
    change: async (ctx) => {
      await unlink(join(ctx, 'links', 'l'));
      await symlink('elsewhere', join(ctx, 'links', 'l'));
    },
  },
  {
    input: 'archive content',
    before: 'ADD arch.tar /',
    after: 'ADD arch.tar /',
    change: (ctx) => tool('tar', ['-cf', join(ctx, 'arch.tar'), '-C', join(ctx, 'dir'), '.']).then(() => {}),
  },
  { input: 'ADD instead of COPY', before: 'COPY arch.tar /', after: 'ADD arch.tar /' },
  { input: '--chown', before: 'COPY a.txt /o/', after: 'COPY --chown=1:1 a.txt /o/' },
  { input: '--chmod', before: 'COPY a.txt /m/', after: 'COPY --chmod=0600 a.txt /m/' },
  { input: '--link', before: 'COPY a.txt /l/', after: 'COPY --link a.txt /l/' },
  { input: '--parents', before: 'COPY dir/x /p/', after: 'COPY --parents dir/x /p/' },
  { input: '--exclude', before: 'COPY dir/ /e/', after: 'COPY --exclude=nothing-matches dir/ /e/' },
  { input: 'ADD --unpack=false', before: 'ADD arch.tar /u/', after: 'ADD --unpack=false arch.tar /u/' },
  { input: 'destination', before: 'COPY a.txt /dest1/', after: 'COPY a.txt /dest2/' },
  {
    input: 'owner of a file in the source stage (COPY --from keeps owners)',
    before: 'COPY --from=src /owned /owned',
    after: 'COPY --from=src /owned /owned',
    change: (ctx) => writeFile(join(ctx, 'owner'), '2:2\n'),
  },
];

let tmp: string;
let store: string;

async function freshContext(dir: string): Promise<void> {
  await writeTree(dir, {
    'a.txt': 'alpha\n',
    'b.txt': 'bravo\n',
    'dir/x': 'x\n',
    'dir/y.log': 'y\n',
    'subdirectory/f': 'in the archive\n',
    owner: '1:1\n',
  });
  await mkdir(join(dir, 'sub'));
  await tool('tar', ['-czf', join(dir, 'sub', 'subdirectory.tar.gz'), '-C', dir, 'subdirectory']);
  await tool('tar', ['-cf', join(dir, 'arch.tar'), '-C', dir, 'subdirectory']);
  await mkdir(join(dir, 'pkg'));
  await tool('tar', ['-cf', join(dir, 'pkg', 'pkg'), '-C', dir, 'subdirectory']);
  await mkdir(join(dir, 'links'));
  await symlink('x', join(dir, 'links', 'l'));
}

/** The stage `src` reads the owner of /owned from the context file `owner`. */
function dockerfile(lines: string): string {
  return `FROM busybox:1 AS src\nCOPY owner /owner\nRUN touch /owned && chown $(cat /owner) /owned\n\nFROM busybox:1\n${lines}\n`;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gantry-copykey-'));
  store = await busyboxStore(tmp);
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The last Dockerfile step the build started (FROM lines aside), and whether it was a cache hit. */
function lastStep(events: readonly ProgressEvent[]): { name: string; cached: boolean } {
  const starts = events.filter(
    (e): e is Extract<ProgressEvent, { type: 'start' }> =>
      e.type === 'start' && /^\[[^\]]+\] /.test(e.name) && !/^\[[^\]]+\] FROM /.test(e.name),
  );
  const last = starts.at(-1);
  assert.ok(last, JSON.stringify(events));
  const done = events.find((e) => e.type === 'done' && e.id === last.id);
  assert.ok(done, `${last.name} is done`);
  return { name: last.name, cached: done.type === 'done' && done.cached === true };
}

describe('COPY/ADD cache key: changing one input misses the cache', () => {
  let n = 0;
  for (const row of ROWS) {
    test(row.input, async () => {
      const ctx = join(tmp, `ctx-${++n}`);
      await freshContext(ctx);
      // A store of its own: another row's build of the same line on the same bytes (archives made
      // in the same second are byte-identical) is a rightful hit that would hide this row's miss.
      const rowStore = join(tmp, `store-${n}`);
      await cp(store, rowStore, { recursive: true });
      const build = async (lines: string) => {
        await writeFile(join(ctx, 'Dockerfile'), dockerfile(lines));
        const events: ProgressEvent[] = [];
        await buildDockerfile({ context: ctx, tags: [`key:${n}`], store: rowStore, progress: (e) => events.push(e) });
        return lastStep(events);
      };
      await build(row.before);
      assert.equal((await build(row.before)).cached, true, 'the same build again is cached');
      await row.change?.(ctx);
      const step = await build(row.after);
      assert.equal(step.cached, false, `${step.name} must not be CACHED`);
    });
  }
});

test('ADD of a directory, then of the archive inside it: the second build extracts the archive', async () => {
  await withTempDir(async (dir) => {
    const ctx = join(dir, 'ctx');
    await freshContext(ctx);
    const out = join(dir, 'out');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:1\nADD sub/ /\n');
    assert.equal((await gantry(['build', ctx], { store })).code, 0);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:1\nADD sub/subdirectory.tar.gz /\n');
    const r = await gantry(['build', ctx, '-o', `type=local,dest=${out}`], { store });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await stat(join(out, 'subdirectory', 'f'))).isFile(), 'the archive is extracted');
    await assert.rejects(stat(join(out, 'subdirectory.tar.gz')), { code: 'ENOENT' });
  });
});
