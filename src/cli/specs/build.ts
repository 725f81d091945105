/** The flag table of `gantry build`: parsing, help and completion come from it. */
import type { CommandSpec } from '../flags.js';

/** Platforms a build commonly names; --platform accepts any os/arch[/variant] an image can carry. */
export const COMMON_PLATFORMS = [
  'linux/amd64',
  'linux/arm64',
  'linux/arm/v7',
  'linux/arm/v6',
  'linux/386',
  'linux/ppc64le',
  'linux/s390x',
  'linux/riscv64',
];

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'quiet'];

export const buildSpec: CommandSpec = {
  name: 'build',
  summary: 'build an image from a Dockerfile or a directory',
  usage: `Usage: gantry build [OPTIONS] CONTEXT

Build an image from a Dockerfile (-f, or CONTEXT/Dockerfile); for a directory without one, from
its project files (a Python project: pyproject.toml, requirements*.txt, setup.py, setup.cfg; a
Node.js project: package.json); else turn its files into one layer on top of --from.`,
  positional: 'dir',
  groups: [
    {
      title: 'Front end',
      flags: [
        {
          name: 'frontend',
          value: 'NAME',
          help: 'dockerfile, python, node or dir (default: detected, in that order)',
          complete: ['dockerfile', 'python', 'node', 'dir'],
        },
        {
          name: 'dry-run',
          help: 'print the plan of a project build (base, layers, entrypoint, ports,\nuser and why) without building',
        },
        { name: 'verbose', short: 'v', help: 'with --dry-run: explain every decision' },
      ],
    },
    {
      title: `Project options (Python; the directory options below apply too, and win over gantry.toml or
[tool.gantry])`,
      flags: [
        { name: 'index-url', value: 'URL', help: "the package index (default: pip's, or $PIP_INDEX_URL)" },
        { name: 'extra-index-url', value: 'URL', multiple: true, help: 'another index (repeatable)' },
        {
          name: 'find-links',
          value: 'DIR',
          multiple: true,
          help: 'a directory of wheels (repeatable; or $PIP_FIND_LINKS)',
          complete: 'dir',
        },
        { name: 'no-deps', help: 'no dependency layer' },
        {
          name: 'venv',
          value: 'DIR',
          help: 'pack this venv at /opt/venv instead of installing (not for another Python or arch)',
          complete: 'dir',
        },
        { name: 'wheel', help: 'install a wheel of the project (its own build backend) into /opt/venv, not its files' },
      ],
    },
    {
      before: `CONTEXT is a directory, - (a tar, tar.gz or Dockerfile on stdin), an https:// URL of a tar.gz,
or a git repository: https://host/repo.git#REF:DIR (also git@host:repo.git, ssh://, git://).`,
      title: `Node.js project options (the directory options below apply too; "gantry" in package.json or
gantry.toml sets the same)`,
      flags: [
        {
          name: 'workspace',
          value: 'NAME',
          help: 'build one workspace package (name or directory) with only what it needs',
        },
        {
          name: 'ca-cert',
          value: 'FILE',
          multiple: true,
          complete: 'file',
          help: `an extra CA for dependency installs (repeatable); handed to the install
as a secret, as are the host's NODE_EXTRA_CA_CERTS, .npmrc and proxy
variables: never in a layer, the config or the history`,
        },
        {
          name: 'build-on',
          value: 'WHERE',
          complete: ['container', 'host'],
          help: `container (default: the build script runs in a build stage on the
base) or host (ship the output the host already built)`,
        },
      ],
    },
    {
      title: 'Dockerfile options',
      flags: [
        {
          name: 'file',
          short: 'f',
          value: 'PATH',
          complete: 'file',
          help: 'the Dockerfile (default CONTEXT/Dockerfile)',
        },
        { name: 'target', value: 'STAGE', help: 'build this stage and what it needs' },
        {
          name: 'build-arg',
          value: 'K[=V]',
          multiple: true,
          help: "a build argument; K alone takes K's value from the environment (repeatable)",
        },
        { name: 'no-cache', help: 'run every step again' },
        { name: 'no-cache-filter', value: 'S', multiple: true, help: 'run the steps of stage S again (repeatable)' },
        {
          name: 'isolation',
          value: 'MODE',
          complete: ['bwrap', 'chroot', 'none'],
          help: 'RUN sandbox: bwrap, chroot or none (default: the strongest available)',
        },
        {
          name: 'secret',
          value: 'id=ID,src=FILE',
          multiple: true,
          help: `a secret for RUN --mount=type=secret (or id=ID,env=VAR; repeatable);
for a Python project, id=netrc,src=FILE gives index credentials and
id=ca,src=FILE an extra CA to pip for the install only, never in a layer
or the history`,
        },
        {
          name: 'check',
          help: `run the Dockerfile's build checks (BuildKit's lint rules) and build
nothing; exits 1 when a check finds something`,
        },
        {
          name: 'call',
          value: 'MODE',
          complete: ['check', 'build'],
          help: 'check (the same as --check) or build (the default)',
        },
        {
          name: 'ssh',
          value: 'default|ID=PATH',
          multiple: true,
          help: `an SSH agent for RUN --mount=type=ssh: default is $SSH_AUTH_SOCK;
PATH is an agent socket or private key files (repeatable)`,
        },
        {
          name: 'build-context',
          value: 'NAME=VALUE',
          multiple: true,
          help: `replace the stage or image NAME (FROM, COPY --from, RUN --mount
from=) with a directory, docker-image://REF or oci-layout://DIR[:TAG]`,
        },
        {
          name: 'cache-to',
          value: 'SPEC',
          multiple: true,
          complete: ['type=registry,ref=', 'type=local,dest='],
          help: `export the build cache: type=registry,ref=REF[,mode=min|max] or
type=local,dest=DIR[,mode=min|max] (mode=max: intermediate stages too)`,
        },
        {
          name: 'cache-from',
          value: 'SPEC',
          multiple: true,
          complete: ['type=registry,ref=', 'type=local,src='],
          help: `import a build cache: type=registry,ref=REF (or REF) or
type=local,src=DIR (repeatable; a bad cache is ignored with a warning)`,
        },
      ],
    },
    {
      title: 'Options for every build',
      flags: [
        {
          name: 'tag',
          short: 't',
          value: 'NAME[:TAG]',
          multiple: true,
          help: 'name the image in the store (repeatable)',
        },
        {
          name: 'platform',
          value: 'P[,P]',
          multiple: true,
          complete: COMMON_PLATFORMS,
          help: 'platforms to build, e.g. linux/amd64,linux/arm64',
        },
        { name: 'label', value: 'KEY=VALUE', multiple: true, help: 'label (repeatable)' },
        {
          name: 'compression',
          value: 'gzip|zstd',
          complete: ['gzip', 'zstd'],
          help: `how new layers are compressed: gzip (default) or zstd (OCI zstd
layers; -o ...,compression=zstd does the same)`,
        },
        {
          name: 'compression-level',
          value: 'N',
          help: 'gzip 0-9 (default 6) or zstd 1-22 (default 3)',
        },
        {
          name: 'annotation',
          value: '[TYPE[PLATFORM]:]KEY=VALUE',
          multiple: true,
          help: `OCI annotation (repeatable); TYPE manifest (default),
index, manifest-descriptor, index-descriptor (type=oci outputs)`,
        },
        {
          name: 'progress',
          value: 'MODE',
          complete: PROGRESS_MODES,
          help: 'auto, tty, plain, json or quiet (a global option: any command takes it)',
        },
      ],
    },
    {
      title: 'Directory options (a context without a Dockerfile)',
      flags: [
        {
          name: 'from',
          value: 'BASE',
          help: `base image: scratch (default) or an image in the store; for a
project, any image (default python:X.Y-slim or node:N-slim, or
$GANTRY_PYTHON_BASE / $GANTRY_NODE_BASE)`,
        },
        { name: 'workdir', value: 'DIR', help: 'working directory; the files are placed there (default /)' },
        { name: 'entrypoint', value: 'CMD', help: 'entrypoint, JSON array or words' },
        { name: 'cmd', value: 'CMD', help: 'default command, JSON array or words' },
        { name: 'env', short: 'e', value: 'KEY=VALUE', multiple: true, help: 'environment variable (repeatable)' },
        { name: 'user', value: 'USER[:GROUP]', help: 'user the container runs as' },
        { name: 'expose', value: 'PORT[/PROTO]', multiple: true, help: 'port the container listens on (repeatable)' },
        {
          name: 'exclude',
          value: 'PATTERN',
          multiple: true,
          help: `leave out what PATTERN matches (.dockerignore syntax; repeatable),
after CONTEXT/.dockerignore and CONTEXT/.gantryignore`,
        },
        { name: 'include-vcs', help: 'also pack .git directories (left out by default)' },
      ],
    },
    {
      title: 'Output options',
      flags: [
        {
          name: 'output',
          short: 'o',
          value: 'SPEC',
          multiple: true,
          complete: ['type=oci,dest=', 'type=docker,dest=', 'type=local,dest=', 'type=tar,dest=', 'type=registry', '-'],
          help: `type=oci|docker|local|tar,dest=PATH, or type=registry (repeatable);
dest=- (or -o - for type=tar) writes the tar to stdout`,
        },
        {
          name: 'media-types',
          value: 'oci|docker',
          complete: ['oci', 'docker'],
          help: 'manifest and config media types (default oci)',
        },
        { name: 'iidfile', value: 'FILE', complete: 'file', help: 'write the image digest to FILE' },
        { name: 'metadata-file', value: 'FILE', complete: 'file', help: 'write build metadata (JSON) to FILE' },
      ],
    },
    {
      title: 'Push options',
      flags: [
        {
          name: 'push',
          help: `push the image to the registry of every -t name (and not into the
store, as buildx does: add --load to keep it there too)`,
        },
        { name: 'load', help: 'also name the image in the store when pushing' },
        {
          name: 'idpbuilder',
          help: `push to the Gitea of the idpbuilder cluster of the kubeconfig:
-t NAME[:TAG] becomes GITEA/OWNER/NAME[:TAG], with the cluster's
credential and CA (see --kube-context)`,
        },
        {
          name: 'driver',
          value: 'kubernetes[,namespace=NS,image=REF,cpu=N,memory=SIZE,ttl=SECONDS]',
          complete: ['kubernetes'],
          help: `run the build as a Job in the kubeconfig's cluster (see
--kube-context): the context goes up as a ConfigMap (over 768 KiB:
an OCI artifact in the -t repository, deleted after), the push and
--cache-to/--cache-from credentials as a short-lived Secret; logs
and the digest come back; registry caches are shared between Jobs`,
        },
      ],
    },
    {
      title: 'Supply chain (attached to pushed images as referrers, and to type=oci outputs)',
      flags: [
        {
          name: 'sbom',
          value: 'true|full|false',
          optionalValue: true,
          complete: ['true', 'full', 'false'],
          help: `an SBOM of the image (default: on when pushing). Base layers not
in the store are not downloaded for it: the base's own SBOM
referrer lists them, else they are marked unknown; full reads
(downloads) every layer`,
        },
        {
          name: 'sbom-format',
          value: 'F',
          complete: ['cyclonedx', 'spdx'],
          help: 'cyclonedx (default, CycloneDX 1.6) or spdx (SPDX 2.3)',
        },
        {
          name: 'sbom-output',
          value: 'FILE',
          complete: 'file',
          help: 'also write the SBOM to FILE (several platforms: FILE.os-arch)',
        },
        {
          name: 'provenance',
          value: 'mode=min|max|false',
          optionalValue: true,
          complete: ['mode=min', 'mode=max', 'false'],
          help: 'SLSA v1 provenance (default: mode=min when pushing; --provenance is mode=min)',
        },
        {
          name: 'sign-key',
          value: 'KEY',
          complete: 'file',
          help: 'sign what is pushed (ECDSA P-256 PEM file or env://VAR), cosign-style',
        },
      ],
    },
  ],
  footer: `Prints NAME@DIGEST for every name the image was given (stored or pushed); without -t or
--output the image is stored under its digest, which is printed.`,
};
