/**
 * The flag tables of the crane-style verbs: append, mutate, flatten, rebase, tag (they push), and
 * export, blob, validate, index (they read content or assemble indexes). Flags are named as crane
 * names them, with kebab-case aliases where crane uses underscores.
 */
import type { CommandSpec, FlagSpec } from '../flags.js';
import { COMMON_PLATFORMS } from './build.js';

const pushTo: FlagSpec = {
  name: 'tag',
  short: 't',
  value: 'REF',
  help: 'where to push: a tag of the same repository or a full reference',
};

export const appendSpec: CommandSpec = {
  name: 'append',
  summary: 'add a layer to a remote image and push it',
  usage: `Usage: gantry append [OPTIONS] -f DIR_OR_TAR -t REF

Add a layer (a directory, or a tar: plain, gzip or zstd) on top of a remote base image and push
it, as crane append does. The base's layers are not downloaded: the registry already has them,
or mounts them from the base's repository. Prints REF@DIGEST.`,
  groups: [
    {
      title: 'Image options',
      flags: [
        { name: 'base', short: 'b', value: 'REF', help: 'the base image (default: scratch)' },
        {
          name: 'new_layer',
          short: 'f',
          value: 'PATH',
          multiple: true,
          aliases: ['new-layer'],
          complete: 'file',
          help: 'a directory or tar for the new layer (repeat for several layers)',
        },
        {
          name: 'platform',
          value: 'P',
          complete: COMMON_PLATFORMS,
          help: "the platform of a multi-platform base, or of scratch (default: this machine's)",
        },
      ],
    },
    {
      title: 'Output options',
      flags: [
        {
          name: 'new_tag',
          short: 't',
          value: 'REF',
          aliases: ['new-tag'],
          help: "where to push: a full reference, or a tag of the base's repository",
        },
        {
          name: 'output',
          short: 'o',
          value: 'FILE',
          complete: 'file',
          help: 'write a docker-archive tarball instead of pushing (downloads the base)',
        },
      ],
    },
  ],
};

export const mutateSpec: CommandSpec = {
  name: 'mutate',
  summary: 'change the config or annotations of a remote image',
  usage: `Usage: gantry mutate [OPTIONS] REF

Change the config or annotations of a remote image and push it, as crane mutate does. Only the
config and manifest are written; the layers stay where they are. Without -t the result is
pushed by digest to REF's repository. On a multi-platform index only -a applies. Prints REF@DIGEST.`,
  groups: [
    {
      title: 'Config options',
      flags: [
        {
          name: 'entrypoint',
          value: 'A,B',
          multiple: true,
          help: 'the entrypoint (comma-separated, repeatable, or one JSON array)',
        },
        { name: 'cmd', value: 'A,B', multiple: true, help: 'the default arguments (same forms)' },
        {
          name: 'env',
          short: 'e',
          value: 'KEY=VALUE',
          multiple: true,
          help: 'set an environment variable (repeatable)',
        },
        { name: 'label', short: 'l', value: 'KEY=VALUE', multiple: true, help: 'set a config label (repeatable)' },
        { name: 'user', value: 'USER', help: "the user (crane's -u is gantry's global --username)" },
        { name: 'workdir', short: 'w', value: 'DIR', help: 'the working directory' },
        {
          name: 'exposed-ports',
          value: 'P,Q',
          multiple: true,
          help: "the exposed ports, replacing the image's (8080, 53/udp)",
        },
        {
          name: 'set-platform',
          value: 'P',
          complete: COMMON_PLATFORMS,
          help: 'a new platform in the config (os/arch[/variant])',
        },
      ],
    },
    {
      title: 'Manifest options',
      flags: [
        {
          name: 'annotation',
          short: 'a',
          value: 'K=V',
          multiple: true,
          help: 'set a manifest (or index) annotation (repeatable)',
        },
      ],
    },
    { title: 'Output options', flags: [pushTo] },
  ],
};

export const flattenSpec: CommandSpec = {
  name: 'flatten',
  summary: 'squash a remote image into one layer',
  usage: `Usage: gantry flatten [OPTIONS] REF

Squash an image into one layer and push it, as crane flatten does (every platform of an index).
Without -t the result is pushed by digest to REF's repository. Prints REF@DIGEST.`,
  groups: [{ flags: [pushTo] }],
};

export const rebaseSpec: CommandSpec = {
  name: 'rebase',
  summary: 'put a remote image on another base',
  usage: `Usage: gantry rebase [OPTIONS] --old-base REF --new-base REF IMAGE

Put an image on another base, as crane rebase does: its first layers must be exactly those of
the old base; they are replaced by the new base's. Without --old-base and --new-base, the
bases are those the image's org.opencontainers.image.base.name and base.digest annotations name
(the old base at that digest, the new one as the name resolves now), as crane does. Only the manifest and config are written (the
new base's layers are mounted, nothing is downloaded). Without -t the result is pushed by digest
to IMAGE's repository. Prints REF@DIGEST.`,
  groups: [
    {
      title: 'Image options',
      flags: [
        { name: 'original', value: 'REF', help: 'the image to rebase (instead of the IMAGE argument)' },
        { name: 'old-base', value: 'REF', aliases: ['old_base'], help: 'the base it was built on' },
        { name: 'new-base', value: 'REF', aliases: ['new_base'], help: 'the base to put under it' },
      ],
    },
    { title: 'Output options', flags: [{ ...pushTo, aliases: ['rebased'] }] },
  ],
};

export const tagSpec: CommandSpec = {
  name: 'tag',
  summary: 'tag a remote image in its repository',
  usage: `Usage: gantry tag REF NEWTAG

Tag the manifest REF names with NEWTAG in the same repository, as crane tag does: only the
manifest is written again, no blob moves. Prints REGISTRY/REPO:NEWTAG@DIGEST.`,
  groups: [],
};

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: "write an image's filesystem as a tar",
  usage: `Usage: gantry export [OPTIONS] IMAGE [FILE|-]

Write the filesystem of an image (layers applied in order, whiteouts applied) as one tar to FILE,
or to stdout with - (the default; never to a terminal), as crane export does. IMAGE is a registry
reference or oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, store:NAME. Names that would
escape the root are refused as extraction refuses them.`,
  positional: 'file',
  groups: [
    {
      flags: [
        {
          name: 'platform',
          value: 'P',
          complete: COMMON_PLATFORMS,
          help: "the platform of a multi-platform image (default: this machine's)",
        },
      ],
    },
  ],
};

export const blobSpec: CommandSpec = {
  name: 'blob',
  summary: 'write a blob to stdout, verified',
  usage: `Usage: gantry blob REPO@DIGEST

Write one blob of a repository to stdout (never to a terminal), verified while streaming, as crane
blob does: a blob whose bytes do not match its digest ends in an error and a non-zero exit (what
was written before is then not to be trusted).`,
  groups: [],
};

export const validateSpec: CommandSpec = {
  name: 'validate',
  summary: 'check every blob of an image against its digest',
  usage: `Usage: gantry validate [OPTIONS] IMAGE

Check that every blob of an image is present and matches its digest and size, as crane validate
does: the manifest, the config and each layer (whose tar must also match its diff_id); for an
index, every platform. IMAGE is a registry reference (also --remote REF), oci:DIR[:TAG] or
store:NAME. Prints one line per problem and exits 1 when there is any.`,
  groups: [
    {
      flags: [
        { name: 'fast', help: 'only check that each blob exists (and its size), without reading it' },
        { name: 'remote', value: 'REF', help: "the image to check (crane's spelling)" },
      ],
    },
  ],
};

export const indexSpec: CommandSpec = {
  name: 'index',
  summary: 'create or append to a multi-platform index',
  usage: `Usage: gantry index create -t REF -m REF [-m REF...]
       gantry index append -b REF -m REF [-m REF...] [-t REF]

Assemble a multi-platform index from images already in a registry (as crane index append does),
each platform read from the image's config; an index given with -m contributes its children.
Only manifests are written: layers are mounted into the target repository, not downloaded.
Prints REF@DIGEST.`,
  subcommands: ['create', 'append'],
  groups: [
    {
      title: 'What to list',
      flags: [
        { name: 'manifest', short: 'm', value: 'REF', multiple: true, help: 'an image to list (repeatable)' },
        { name: 'base', short: 'b', value: 'REF', help: 'append: the index to add to' },
      ],
    },
    {
      title: 'Output options',
      flags: [
        {
          name: 'tag',
          short: 't',
          value: 'REF',
          help: 'create: the index to push; append: where to push (default: the base)',
        },
        { name: 'docker', help: 'create: a Docker manifest list (default: when every image is Docker v2s2)' },
        { name: 'oci', help: 'create: an OCI index' },
      ],
    },
  ],
};
