/**
 * The snapshotter contract the build engine programs against: prepare a writable root on top of
 * extracted lower layers, let a step change it, then commit what changed as layer entries.
 */
import type { IoOptions } from '../../errors.js';
import type { TarInput } from '../../layer/tar/types.js';

export interface CommitOptions extends IoOptions {
  /**
   * Paths (relative to the root, e.g. `etc/resolv.conf`) that never go into the layer, with
   * everything under them: what the executor bind-mounted or created only to run the step
   * (its EPHEMERAL_PATHS).
   */
  readonly ignore?: readonly string[];
  /** Clamp mtimes to this many seconds since the epoch; default SOURCE_DATE_EPOCH when set. */
  readonly sourceDateEpoch?: number;
}

/** One writable filesystem on top of read-only lowers. */
export interface Snapshot {
  /** The directory a step sees as `/`. */
  readonly root: string;
  /** Where changes land: overlay's upper directory; for the walk snapshotter, the root itself. */
  readonly upper: string;
  /**
   * What changed, as layer entries sorted by path bytes: new and changed paths with their owners,
   * modes and mtimes, `.wh.NAME` for removals, `DIR/.wh..wh..opq` for a directory that replaced
   * what was below it. Parents of every change are included so the layer extracts anywhere.
   */
  commit(options?: CommitOptions): AsyncIterable<TarInput>;
  /** True when commit would yield nothing (the step adds no layer). */
  isEmpty(options?: CommitOptions): Promise<boolean>;
  /** Unmounts and removes everything prepare made; safe to call twice. */
  release(options?: IoOptions): Promise<void>;
}

export interface Snapshotter {
  readonly kind: 'overlay' | 'walk';
  /** `lowers` are extracted layer directories (see LayerCache), bottom first; empty for scratch. */
  prepare(lowers: readonly string[], options?: IoOptions): Promise<Snapshot>;
}

export interface SnapshotterOptions {
  /**
   * Where snapshots are made (default: the OS temp dir). For overlay it must be a filesystem that
   * can hold an upper directory (not overlayfs itself; ext4, xfs, btrfs and tmpfs can).
   */
  readonly dir?: string;
}
