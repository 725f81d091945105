/** The flag tables of the registry commands: push, pull, copy, inspect, digest, tags, catalog, delete, login, logout. */
import type { CommandSpec, FlagSpec } from '../flags.js';
import { COMMON_PLATFORMS } from './build.js';
import { globalFlags } from './global.js';

const REGISTRY_TITLE = 'Registry options (global, anywhere on the line)';

const platform = (help: string): FlagSpec => ({ name: 'platform', value: 'P', complete: COMMON_PLATFORMS, help });

export const pushSpec: CommandSpec = {
  name: 'push',
  summary: 'push an image to a registry',
  usage: `Usage: gantry push [OPTIONS] NAME [DEST]

Push an image from the store (or any location: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)
to a registry. DEST defaults to NAME.`,
  groups: [
    { title: 'What to push', flags: [platform('push one platform of a multi-platform image')] },
    {
      title: REGISTRY_TITLE,
      flags: globalFlags(
        'insecure',
        'plain-http',
        'chunk-size',
        'username',
        'password-stdin',
        'timeout',
        'idle-timeout',
      ),
    },
  ],
};

export const pullSpec: CommandSpec = {
  name: 'pull',
  summary: 'pull an image from a registry into the store',
  usage: `Usage: gantry pull [OPTIONS] REF

Pull an image from a registry into the store, named REF.`,
  groups: [
    {
      title: 'What to pull',
      flags: [
        platform("the platform to pull from a multi-platform image (default: this machine's)"),
        { name: 'all-platforms', help: 'keep the whole multi-platform index' },
      ],
    },
    {
      title: REGISTRY_TITLE,
      flags: globalFlags('insecure', 'plain-http', 'username', 'password-stdin', 'timeout', 'idle-timeout'),
    },
    { title: 'Store options (global)', flags: globalFlags('store') },
  ],
};

export const copySpec: CommandSpec = {
  name: 'copy',
  summary: 'copy an image between registries and files',
  usage: `Usage: gantry copy [OPTIONS] SRC DST

Copy an image between registries and files, streamed (no full local copy). SRC and DST are registry
references or oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME], store:NAME.`,
  groups: [
    {
      title: 'What to copy',
      flags: [
        platform('copy one platform of a multi-platform image'),
        { name: 'all-platforms', help: 'copy every platform (the default for a multi-platform source)' },
      ],
    },
    {
      title: REGISTRY_TITLE,
      flags: globalFlags(
        'insecure',
        'plain-http',
        'chunk-size',
        'username',
        'password-stdin',
        'timeout',
        'idle-timeout',
      ),
    },
  ],
};

export const inspectSpec: CommandSpec = {
  name: 'inspect',
  summary: 'show an image, its manifest or its config',
  usage: `Usage: gantry inspect [OPTIONS] REF

Show an image: a summary (JSON), its raw manifest (--raw) or its config (--config).`,
  groups: [
    {
      title: 'What to show',
      flags: [
        { name: 'raw', help: 'print the manifest (or index) bytes as stored' },
        { name: 'config', help: 'print the image config' },
        platform('pick one platform of a multi-platform image'),
      ],
    },
    {
      title: 'Output options',
      flags: [{ name: 'format', value: 'json', complete: ['json'], help: 'the summary as JSON (the default)' }],
    },
  ],
};

export const digestSpec: CommandSpec = {
  name: 'digest',
  summary: 'print the digest of an image',
  usage: `Usage: gantry digest [OPTIONS] REF

Print the digest of an image's manifest (or index).`,
  groups: [{ flags: [platform("the digest of one platform's manifest instead of the index")] }],
};

export const tagsSpec: CommandSpec = {
  name: 'tags',
  summary: 'list the tags of a repository',
  usage: `Usage: gantry tags [--all] REPO

List the tags of a repository (every page). The sha256-<hex> tags that hold the SBOM, provenance
and signatures of an image on registries without the referrers API (and cosign's .sig/.att/.sbom
tags) are not images and are left out.`,
  groups: [{ flags: [{ name: 'all', help: 'list those sha256-<hex> tags too' }] }],
};

export const catalogSpec: CommandSpec = {
  name: 'catalog',
  summary: 'list the repositories of a registry',
  usage: `Usage: gantry catalog REGISTRY
       gantry catalog --idpbuilder

List the repositories of a registry (every page). On the Gitea of an idpbuilder cluster (with
--idpbuilder, or REGISTRY being that Gitea), list the admin's container packages instead: name,
tag and creation time, through Gitea's packages API. Gitea has no referrers API and lists the
sha256-<hex> tags holding an image's SBOM, provenance or signatures as versions: they are left out.`,
  groups: [
    {
      flags: [
        { name: 'idpbuilder', help: 'the Gitea of the idpbuilder cluster of the kubeconfig (see --kube-context)' },
        { name: 'format', value: 'FORMAT', complete: ['table', 'json'], help: 'table (default) or json' },
        { name: 'all', help: 'on Gitea, list the sha256-<hex> artifact versions too' },
      ],
    },
  ],
};

export const deleteSpec: CommandSpec = {
  name: 'delete',
  summary: 'delete an image from a registry',
  usage: `Usage: gantry delete [--force-tag-dereference] REF

Delete a manifest from a registry (a tag is resolved to its digest first). Deleting a manifest
deletes every tag that names it, so a tag whose manifest other tags share is refused, naming
them, unless --force-tag-dereference is given (as regctl manifest delete; crane delete does not
ask). On the Gitea of an idpbuilder cluster whose registry refuses manifest deletion, the package
version is deleted through Gitea's packages API instead.`,
  groups: [
    {
      flags: [
        {
          name: 'force-tag-dereference',
          help: 'delete the manifest even when other tags name it (they go too)',
        },
      ],
    },
  ],
};

export const loginSpec: CommandSpec = {
  name: 'login',
  summary: 'check and store a registry credential',
  usage: `Usage: gantry login [OPTIONS] REGISTRY

Check a credential against the registry, then store it (in the docker credsStore when one is
configured, else in the docker config.json).`,
  groups: [
    {
      title: 'Credential options (global)',
      flags: globalFlags('username', 'password-stdin'),
    },
  ],
};

export const logoutSpec: CommandSpec = {
  name: 'logout',
  summary: 'remove a stored registry credential',
  usage: `Usage: gantry logout REGISTRY

Remove the stored credential of a registry.`,
  groups: [],
};
