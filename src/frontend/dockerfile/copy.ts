/**
 * COPY and ADD: from the build context (keyed by the content digests of what they read, before
 * the step), from another stage or an image (keyed by its key: a hit reads nothing), plus heredoc
 * bodies and ADD URLs as extra sources. `--link` keys the step without the steps before it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import type { AddInstruction, CopyInstruction } from '../../dockerfile/index.js';
import {
  type CopyPlan,
  checksumSources,
  copyEntries,
  type PlacedCopy,
  placeInRoot,
} from '../../engine/context/index.js';
import {
  type CopyOptions,
  type CopySource,
  copyStep,
  fetchRemote,
  planFrom,
  resolveChown,
  type StepLayer,
  writeEntries,
} from '../../engine/solver/steps.js';
import { GantryError } from '../../errors.js';
import { fetchGit, isGitSource } from './git.js';
import { copyHistory } from './history.js';
import { addHistory, containerConfig, type Dispatch, solveStep } from './state.js';

export async function copy(d: Dispatch, instr: CopyInstruction | AddInstruction): Promise<void> {
  const { state, build } = d;
  const workdir = containerConfig(state).WorkingDir || '/';
  const unpack = instr.kind === 'add' && instr.unpack !== false;
  const parents = instr.kind === 'copy' ? instr.parents : false;
  const from = instr.kind === 'copy' ? instr.from : undefined;
  // --from=NAME of a named directory context (--build-context NAME=DIR): read like the context.
  const namedDir = from !== undefined ? build.namedDir(from) : undefined;
  const step = build.solver.context;
  const link = instr.link;
  const stageLayers = [...state.layers];
  const cleanups: (() => Promise<void>)[] = [];
  let added = false;
  try {
    // Heredoc sources and ADD URLs become files in a temp dir, copied like context files.
    const extraRoots: { root: string; names: string[] }[] = [];
    if (instr.heredocs.length > 0) {
      const dir = await mkdtemp(posix.join(tmpdir(), 'gantry-inline-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      for (const h of instr.heredocs) await writeFile(posix.join(dir, h.name), h.content, { mode: 0o644 });
      extraRoots.push({ root: dir, names: instr.heredocs.map((h) => h.name) });
    }
    let sources = [...instr.sources];
    if (instr.kind === 'add') {
      const repos = sources.filter(isGitSource);
      sources = sources.filter((s) => !isGitSource(s));
      const urls = sources.filter((s) => /^https?:\/\//.test(s));
      sources = sources.filter((s) => !/^https?:\/\//.test(s));
      if (instr.checksum !== undefined && sources.length > 0) {
        throw new GantryError(
          'ADD_CHECKSUM_NOT_SUPPORTED',
          `ADD --checksum: ${sources[0]} is not a URL or a git repository`,
          {
            phase: 'build',
            suggestion: 'BuildKit checks --checksum for HTTP(S) and git sources only; COPY local files',
          },
        );
      }
      for (const repo of repos) {
        const got = await fetchGit(repo, instr.checksum, build.solver.signal);
        cleanups.push(() => rm(got.dir, { recursive: true, force: true }));
        // The tree's contents land in dest, as a directory source's do.
        extraRoots.push({ root: got.root, names: ['.'] });
      }
      for (const url of urls) {
        const got = await fetchRemote(url, instr.checksum, build.solver.signal);
        cleanups.push(() => rm(got.dir, { recursive: true, force: true }));
        extraRoots.push({ root: got.dir, names: [got.name] });
      }
    }
    const planOptions: CopyOptions = {
      dest: instr.dest,
      workdir,
      ...(instr.chmod ? { chmod: instr.chmod } : {}),
      exclude: instr.exclude,
      parents,
      sources,
      unpack,
    };
    // The key holds --chown as written: a name is resolved (in this stage's /etc/passwd, which
    // the parent key already pins) only when the step really runs, so a hit extracts nothing.
    const optionsKey = JSON.stringify({
      // Sources as written: `ADD dir/` and `ADD dir/a.tar.gz` can read the same entries, but
      // only the latter extracts (issue 15).
      sources: instr.sources,
      link: instr.link,
      dest: instr.dest,
      workdir,
      chown: instr.chown,
      chmod: instr.chmod,
      exclude: instr.exclude,
      parents,
      unpack,
    });
    const plansFrom = async (root: CopySource): Promise<CopyPlan[]> => {
      const plans: CopyPlan[] = [];
      if (sources.length > 0) plans.push(await planFrom(root, planOptions, step));
      for (const extra of extraRoots)
        plans.push(await planFrom({ root: extra.root }, { ...planOptions, sources: extra.names, unpack: false }, step));
      return plans;
    };
    const write = async (planned: readonly CopyPlan[]): Promise<StepLayer | undefined> => {
      const chown = await resolveChown(instr.chown, stageLayers, step);
      const emit = async (plans: readonly CopyPlan[], existing?: PlacedCopy['existing']) => {
        const owners = {
          ...(chown ? { chown } : {}),
          // COPY --from keeps the source owners; USER never changes them (issue 15).
          ...(from !== undefined && namedDir === undefined ? { keepOwners: true, devicePlaceholders: true } : {}),
          ...(existing ? { existing } : {}),
        };
        const opts: CopyOptions = { ...planOptions, ...owners };
        const [only, ...more] = plans;
        if (!only) return undefined;
        if (more.length === 0) return copyStep(only, opts, step);
        // Context files plus heredocs or URLs: one layer of all of them, in order.
        const copyOptions = { ...owners, ...(instr.chmod ? { chmod: instr.chmod } : {}), signal: step.signal };
        async function* all() {
          for (const plan of plans) yield* copyEntries(plan, copyOptions);
        }
        return writeEntries(all(), step);
      };
      // The destination resolves through the stage's symlinks and existing directories keep their
      // owner and mode (issue 15, issue 8); --link leaves the stage's files out, as BuildKit does.
      if (link || stageLayers.length === 0) return emit(planned);
      return step.fs.with(
        stageLayers,
        async (snapshot) => {
          const placed = await placeInRoot(snapshot.root, planned, step);
          return emit(placed.plans, placed.existing);
        },
        step,
      );
    };
    // COPY --link makes a layer that does not depend on the files below it, so its key leaves the
    // steps before it out: changing them reuses the same layer (BuildKit rebases it the same way).
    if (from === undefined || namedDir !== undefined) {
      // Context files are keyed by their content digests, read before the step.
      const plans = await plansFrom(
        namedDir !== undefined ? { root: namedDir } : { root: build.context, ignore: build.ignore },
      );
      const sums: string[] = [];
      for (const plan of plans) sums.push(await checksumSources(plan, { cache: build.hashes, signal: step.signal }));
      const inputs = [instr.kind, optionsKey, namedDir !== undefined ? `named-context:${from}` : 'context', ...sums];
      added = await solveStep(d, { inputs, detached: link, run: () => write(plans) });
    } else {
      const { layers, fromKey } = await build.fromSource(from, d.stage, state.platform);
      // A stage's key chains on the results of its steps and an image's on its digest, so the
      // key names the source files exactly: a hit needs no extraction and no checksums.
      const inputs = [instr.kind, optionsKey, 'from', fromKey, JSON.stringify(sources), JSON.stringify(instr.heredocs)];
      added = await solveStep(d, {
        inputs,
        detached: link,
        run: () =>
          build.solver.fs.with(layers, async (snapshot) => write(await plansFrom({ root: snapshot.root })), {
            signal: step.signal,
          }),
      });
    }
  } finally {
    for (const c of cleanups) await c();
  }
  addHistory(d, copyHistory(instr), !added);
}
