#!/usr/bin/env node
// Makes sure the machine has the real tools the test suite and the bench start and compare with
// (the distribution registry, skopeo, umoci, buildah, debootstrap, ...) and that arm64 Debian
// packages can be downloaded for the multi-platform fixtures. Run by `npm test` (pretest) and
// `npm run bench` (prebench). gantry itself needs none of these. Installs what is missing with apt-get; prints the
// command instead when not root. Checks only local state (dpkg database, apt lists), so it costs a
// few milliseconds when everything is there. `--dry-run` reports without changing anything.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** Debian package -> why the tests need it. */
const PACKAGES = {
  'docker-registry': 'the CNCF distribution registry the registry tests push to',
  skopeo: 'validates what gantry pushes and writes',
  umoci: 'validates OCI layouts and unpacks images',
  buildah: 'a peer builder to compare results with',
  'busybox-static': 'lists busybox applets for the fixture images',
  'apache2-utils': 'htpasswd for the basic-auth registry',
  openssl: 'a test CA and server certificate for the TLS registry',
  tar: 'a peer tar implementation',
  gzip: 'a peer gzip implementation',
  zstd: 'a peer zstd implementation',
  time: 'GNU time for the benchmarks',
  bubblewrap: 'the RUN sandbox the tests expect (gantry falls back to unshare + chroot without it)',
  uidmap: 'user namespaces for rootless sandboxes',
  debootstrap: 'builds the Debian fixture image (test/harness/debian.ts)',
  attr: 'getfattr/setfattr, which the tests read xattrs with (gantry falls back to GNU tar)',
  'qemu-user-static': 'runs RUN steps of foreign-architecture images (arm64 on amd64)',
  'binfmt-support': 'update-binfmts, which registers qemu-user-static with binfmt_misc',
  'python3-hatchling': 'runs the Hatch build target and hook of integrations/python/hatch',
  'python3-poetry': 'runs the Poetry plugin of integrations/python/poetry',
  gcc: 'compiles the amd64 C-extension wheel of the Python tests on the host (test/harness/cext-wheels.ts)',
  'python3-dev': 'Python.h for that wheel',
  'python3-setuptools': "builds that wheel with the host's Debian python3",
  zsh: 'runs the zsh completion script gantry completion zsh prints (test/cli/completion.test.ts)',
  fish: 'runs the fish completion script gantry completion fish prints (test/cli/completion.test.ts)',
};
const FOREIGN_ARCH = 'arm64';
const APT_LISTS = '/var/lib/apt/lists';
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

const dryRun = process.argv.includes('--dry-run');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function say(line) {
  console.error(`setup: ${line}`);
}

function capture(cmd, args) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', env: APT_ENV });
  if (res.error) throw new Error(`setup: cannot run ${cmd}: ${res.error.message}`);
  return { status: res.status ?? 1, stdout: res.stdout ?? '', stderr: res.stderr ?? '' };
}

function runLoud(cmd, args) {
  say(`$ ${[cmd, ...args].join(' ')}`);
  const res = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: APT_ENV });
  if (res.error || res.status !== 0) {
    say(`failed: ${cmd} ${args.join(' ')}${res.error ? ` (${res.error.message})` : ` (exit ${res.status})`}`);
    process.exit(1);
  }
}

/** Packages not installed (dpkg status other than "ii"), in one dpkg-query call. */
function missingPackages() {
  const names = Object.keys(PACKAGES);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax
  const format = '-f=${Package} ${db:Status-Abbrev}\\n';
  const res = capture('dpkg-query', ['-W', format, ...names]);
  const installed = new Set();
  for (const line of res.stdout.split('\n')) {
    const [name, status] = line.trim().split(/\s+/);
    if (name && status?.startsWith('ii')) installed.add(name.replace(/:.*$/, ''));
  }
  return names.filter((n) => !installed.has(n));
}

function foreignArchEnabled() {
  const res = capture('dpkg', ['--print-foreign-architectures']);
  return res.stdout.split(/\s+/).includes(FOREIGN_ARCH);
}

/** True when apt has package lists for the foreign architecture (after an update that saw it enabled). */
function foreignListsPresent() {
  if (!existsSync(APT_LISTS)) return false;
  return readdirSync(APT_LISTS).some((f) => f.includes(`binary-${FOREIGN_ARCH}_Packages`));
}

function main() {
  if (!existsSync('/usr/bin/dpkg-query') && !existsSync('/bin/dpkg-query')) {
    say('this is not a Debian-based machine; install the tools listed in scripts/setup-test-deps.mjs by hand');
    process.exit(1);
  }
  const missing = missingPackages();
  const needArch = !foreignArchEnabled();
  const needLists = needArch || !foreignListsPresent();
  if (missing.length === 0 && !needLists) return;

  const steps = [];
  if (needArch) steps.push(['dpkg', ['--add-architecture', FOREIGN_ARCH]]);
  steps.push(['apt-get', ['update']]);
  if (missing.length > 0) steps.push(['apt-get', ['install', '-y', '--no-install-recommends', ...missing]]);

  for (const name of missing) say(`missing ${name}: ${PACKAGES[name]}`);
  if (needArch) say(`enabling architecture ${FOREIGN_ARCH} (the fixtures download busybox-static:${FOREIGN_ARCH})`);
  else if (needLists)
    say(`no apt lists for ${FOREIGN_ARCH} yet (the fixtures download busybox-static:${FOREIGN_ARCH})`);

  const script = steps.map(([c, a]) => [c, ...a].join(' ')).join(' && ');
  if (dryRun) {
    say(`would run: ${script}`);
    process.exit(missing.length > 0 || needLists ? 2 : 0);
  }
  if (!isRoot) {
    say(
      `not root: run this as root, then run the tests again:\n  sudo env DEBIAN_FRONTEND=noninteractive sh -c '${script}'`,
    );
    process.exit(1);
  }
  if (missing.length > 0) say(`installing ${missing.join(' ')} ...`);
  for (const [cmd, args] of steps) runLoud(cmd, args);
  const still = missingPackages();
  if (still.length > 0) {
    say(`still missing after install: ${still.join(' ')}`);
    process.exit(1);
  }
  say('test dependencies ready');
}

main();
