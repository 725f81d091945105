/**
 * Output of a RUN step: bytes from stdout and stderr cut into lines for onOutput, and the last
 * lines kept for the error report. A line never grows without bound: a stream that writes no
 * newline (a progress bar, binary junk) is cut every MAX_LINE bytes.
 */
import { StringDecoder } from 'node:string_decoder';

export const TAIL_LINES = 20;
const MAX_LINE = 64 * 1024;

export type StreamName = 'stdout' | 'stderr';

/** The last `capacity` lines written to it, oldest first. */
export class Tail {
  readonly #lines: string[] = [];
  readonly #capacity: number;

  constructor(capacity = TAIL_LINES) {
    this.#capacity = capacity;
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.shift();
  }

  get lines(): readonly string[] {
    return [...this.#lines];
  }
}

/** Splits one stream into lines (UTF-8 safe across chunk boundaries); `\r\n` counts as one end. */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #emit: (line: string) => void;
  #pending = '';

  constructor(emit: (line: string) => void) {
    this.#emit = emit;
  }

  write(chunk: Buffer): void {
    this.#pending += this.#decoder.write(chunk);
    let nl = this.#pending.indexOf('\n');
    while (nl >= 0) {
      const line = this.#pending.slice(0, nl);
      this.#pending = this.#pending.slice(nl + 1);
      this.#emit(line.endsWith('\r') ? line.slice(0, -1) : line);
      nl = this.#pending.indexOf('\n');
    }
    while (this.#pending.length > MAX_LINE) {
      this.#emit(this.#pending.slice(0, MAX_LINE));
      this.#pending = this.#pending.slice(MAX_LINE);
    }
  }

  /** Emits what is left after the stream ended (a last line without a newline). */
  end(): void {
    this.#pending += this.#decoder.end();
    if (this.#pending !== '') this.#emit(this.#pending);
    this.#pending = '';
  }
}
