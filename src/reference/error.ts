/**
 * The error every reference check throws. It names the part of the reference that is wrong, so a
 * caller (or the CLI) can point at it without parsing the message.
 */
import { GantryError } from '../errors.js';

export type ReferencePart = 'registry' | 'repository' | 'tag' | 'digest' | 'reference';

export class ReferenceError extends GantryError {
  /** The text that was being parsed, as given. */
  readonly input: string;
  readonly part: ReferencePart;

  constructor(input: string, part: ReferencePart, detail: string, suggestion: string) {
    super('INVALID_REFERENCE', `invalid reference ${JSON.stringify(input)}: ${detail}`, {
      phase: 'reference',
      suggestion,
    });
    this.name = 'ReferenceError';
    this.input = input;
    this.part = part;
  }
}
