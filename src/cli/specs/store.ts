/** The flag tables of the store commands: images, rmi, prune, load. */
import type { CommandSpec } from '../flags.js';

export const imagesSpec: CommandSpec = {
  name: 'images',
  summary: 'list images in the store',
  usage: `Usage: gantry images [--format table|json] [--digests]

List the images in the store: name, tag, digest, platforms, size.`,
  groups: [
    {
      flags: [
        { name: 'format', value: 'FORMAT', complete: ['table', 'json'], help: 'table (default) or json' },
        { name: 'digests', help: 'show whole digests in the table' },
      ],
    },
  ],
};

export const rmiSpec: CommandSpec = {
  name: 'rmi',
  summary: 'remove image names from the store',
  usage: `Usage: gantry rmi NAME|DIGEST [NAME|DIGEST...]

Remove names from the store (by digest: every name of that image). Blobs are freed by gantry prune.`,
  groups: [],
};

export const pruneSpec: CommandSpec = {
  name: 'prune',
  summary: 'delete unused blobs from the store',
  usage: `Usage: gantry prune [--build-cache]

Delete every blob in the store that no named image uses, and report the space freed.`,
  groups: [{ flags: [{ name: 'build-cache', help: 'also drop the build cache (step records and extracted layers)' }] }],
};

export const loadSpec: CommandSpec = {
  name: 'load',
  summary: 'import an OCI layout, OCI archive or docker-archive',
  usage: `Usage: gantry load [-t NAME] FILE|DIR

Import an OCI layout directory, an OCI archive or a docker-archive tar into the store.`,
  positional: 'file',
  groups: [
    {
      flags: [
        { name: 'tag', short: 't', value: 'NAME', multiple: true, help: 'name the loaded image (repeatable)' },
        { name: 'input', short: 'i', value: 'FILE', complete: 'file', help: 'the file or directory (instead of FILE)' },
      ],
    },
  ],
};
