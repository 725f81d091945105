#!/usr/bin/env node
// Writes docs/errors.md from ERROR_CODES in src/errors.ts (compiled: run `npm run build` first).
// test/errors.test.ts fails when the two disagree.
import { writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const { ERROR_CODES } = await import(new URL('../dist/src/errors.js', import.meta.url).href);

export function renderErrorDocs(codes) {
  const rows = Object.entries(codes).map(([code, text]) => `| \`${code}\` | ${text.replaceAll('|', '\\|')} |`);
  return `# Error codes

Every error gantry throws is a \`GantryError\` with a stable \`code\`, the \`phase\` it happened in and
a \`suggestion\` for the user. Compare codes, not classes: \`import { ERROR_CODES, isErrorCode } from 'gantry'\`.
Registry errors keep the code the registry sent (the OCI distribution codes are listed here; a
registry may send others). This table is generated from \`ERROR_CODES\` in src/errors.ts by
\`node scripts/error-docs.mjs\`.

| Code | Meaning |
| --- | --- |
${rows.join('\n')}
`;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  writeFileSync(`${root}docs/errors.md`, renderErrorDocs(ERROR_CODES));
}
