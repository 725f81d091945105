#!/usr/bin/env node
// Builds CONTEXT (a directory with a Dockerfile) and pushes the image to REF, with the library
// alone:
//
//   node build-and-push.mjs CONTEXT REF        e.g. node build-and-push.mjs ./app ghcr.io/me/app:1
//
// Registry settings (plain HTTP, CAs, mirrors) come from registries.toml ($GANTRY_CONFIG) and
// credentials from `gantry login` or docker's config, as for the CLI; pass `registry: { ... }`
// to build() to set them in code instead.
import { build, GantryError } from 'gantry';

const [context, ref] = process.argv.slice(2);
if (!context || !ref) {
  console.error('usage: node build-and-push.mjs CONTEXT REF');
  process.exit(2);
}

try {
  const result = await build({
    context,
    tags: [ref],
    push: true,
    // Progress events: print each step as it starts, and whether it came from the cache.
    progress: (event) => {
      if (event.type === 'start') console.error(`=> ${event.name}`);
      if (event.type === 'done' && event.cached) console.error(`   cached ${event.id}`);
    },
  });
  for (const pushed of result.pushed) console.log(`${pushed.name}@${pushed.digest}`);
} catch (err) {
  // Every gantry error has a stable code (ERROR_CODES lists them) and a suggestion.
  if (GantryError.is(err)) {
    console.error(`error [${err.code}]: ${err.oneLine()}`);
    process.exit(1);
  }
  throw err;
}
