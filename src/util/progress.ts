/**
 * Progress as typed events. The engine and the registry client emit them; only the CLI renders
 * them (live in a terminal, plain lines in CI, JSON lines with --progress=json).
 */
export type ProgressEvent =
  | { readonly type: 'start'; readonly id: string; readonly name: string }
  | {
      readonly type: 'progress';
      readonly id: string;
      readonly current: number;
      readonly total?: number;
      readonly unit: 'bytes' | 'files';
    }
  | { readonly type: 'log'; readonly id: string; readonly line: string }
  | { readonly type: 'done'; readonly id: string; readonly cached?: boolean; readonly detail?: string }
  | { readonly type: 'error'; readonly id: string; readonly message: string }
  /** Something the user should know that does not stop the build (a parser or lint warning). */
  | { readonly type: 'warning'; readonly message: string; readonly code?: string };

export type ProgressSink = (event: ProgressEvent) => void;

export const noProgress: ProgressSink = () => {};

/** Runs `fn` as one named step: start, then done or error. */
export async function step<T>(
  sink: ProgressSink,
  id: string,
  name: string,
  fn: () => Promise<T>,
  detail?: (result: T) => string,
): Promise<T> {
  sink({ type: 'start', id, name });
  try {
    const result = await fn();
    const d = detail?.(result);
    sink(d === undefined ? { type: 'done', id } : { type: 'done', id, detail: d });
    return result;
  } catch (err) {
    sink({ type: 'error', id, message: err instanceof Error ? err.message : String(err) });
    throw err;
  }
}
