/** The flag tables of the supply-chain commands: sbom, referrers (discover), sign, verify, scan. */
import type { CommandSpec } from '../flags.js';
import { COMMON_PLATFORMS } from './build.js';

export const sbomSpec: CommandSpec = {
  name: 'sbom',
  summary: "print an image's SBOM (attached, or made from the image)",
  usage: `Usage: gantry sbom [OPTIONS] IMAGE

Print the SBOM of an image: the one pushed with it (a referrer) when there is one, else one made
now from the image's package databases (dpkg, apk, Python, npm). IMAGE is a registry reference,
store:NAME, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE.`,
  groups: [
    {
      title: 'What to read',
      flags: [
        {
          name: 'platform',
          value: 'P',
          complete: COMMON_PLATFORMS,
          help: "the platform of a multi-platform image (default this machine's)",
        },
        { name: 'generate', help: 'make it from the image even when one is attached' },
      ],
    },
    {
      title: 'Output options',
      flags: [
        { name: 'format', value: 'F', complete: ['cyclonedx', 'spdx'], help: 'cyclonedx (default) or spdx' },
        { name: 'output', short: 'o', value: 'FILE', complete: 'file', help: 'write it to FILE instead of stdout' },
      ],
    },
  ],
};

export const referrersSpec: CommandSpec = {
  name: 'referrers',
  summary: 'list the artifacts that refer to an image',
  usage: `Usage: gantry referrers [OPTIONS] IMAGE

List the artifacts that refer to an image (SBOMs, provenance, signatures), and for a multi-platform
image to each of its manifests: through the registry's referrers API, or the referrers tag schema
(sha256-<hex>) on registries without it; or from an OCI layout (oci:DIR). Also \`gantry discover\`.`,
  groups: [
    {
      flags: [
        {
          name: 'artifact-type',
          value: 'T',
          complete: [
            'application/vnd.cyclonedx+json',
            'application/spdx+json',
            'application/vnd.in-toto+json',
            'application/vnd.dev.cosign.artifact.sig.v1+json',
          ],
          help: 'only artifacts of this type (e.g. application/vnd.cyclonedx+json)',
        },
        { name: 'json', help: 'print a JSON array' },
      ],
    },
  ],
};

export const discoverSpec: CommandSpec = {
  ...referrersSpec,
  name: 'discover',
  summary: 'the same as referrers (as oras names it)',
  sameAs: 'referrers',
};

export const signSpec: CommandSpec = {
  name: 'sign',
  summary: 'sign an image in a registry (cosign-compatible)',
  usage: `Usage: gantry sign [OPTIONS] IMAGE --key KEY

Sign an image in a registry as cosign does: an ECDSA P-256 signature over a simple-signing payload
naming the image's digest, stored under the sha256-<hex>.sig tag (appended to the signatures there)
and as a referrer. cosign verify --key accepts it.`,
  groups: [
    {
      flags: [
        {
          name: 'key',
          value: 'KEY',
          complete: 'file',
          help: 'the private key: a PEM file (PKCS#8 or EC PRIVATE KEY), or env://VAR',
        },
        {
          name: 'form',
          value: 'F',
          complete: ['tag', 'referrer', 'both', 'bundle'],
          help: `tag (cosign's sha256-<hex>.sig), referrer (the same as an OCI
referrer), both (default), or bundle (a sigstore bundle v0.3
referrer, as cosign --new-bundle-format; no transparency log)`,
        },
      ],
    },
  ],
};

export const verifySpec: CommandSpec = {
  name: 'verify',
  summary: "check an image's cosign signatures against a public key",
  usage: `Usage: gantry verify [OPTIONS] IMAGE --key PUB

Check the cosign signatures of an image in a registry (sha256-<hex>.sig tag, referrers, and
sigstore bundle referrers) against a public key. Exits 0 and prints the image digest when one verifies; fails when none does (a
changed image, a signature moved from another image, or another key).`,
  groups: [
    {
      flags: [
        {
          name: 'key',
          value: 'PUB',
          complete: 'file',
          help: 'the public key: a PEM file (e.g. cosign.pub), or env://VAR',
        },
      ],
    },
  ],
};

export const scanSpec: CommandSpec = {
  name: 'scan',
  summary: 'run an installed vulnerability scanner on an image',
  usage: `Usage: gantry scan [OPTIONS] IMAGE [-- SCANNER ARGS]

Run an installed vulnerability scanner on an image and return its output and exit code: grype,
trivy or osv-scanner, the first found on PATH unless --scanner names one. The scanner reads the
image's SBOM (the attached one, else one made from the image) or, with --input layout, the image
as an OCI layout (grype, trivy).`,
  groups: [
    {
      flags: [
        {
          name: 'scanner',
          value: 'S',
          complete: ['grype', 'trivy', 'osv-scanner'],
          help: 'grype, trivy, osv-scanner, or the path of one of them',
        },
        { name: 'input', value: 'I', complete: ['sbom', 'layout'], help: 'sbom (default) or layout' },
        { name: 'platform', value: 'P', complete: COMMON_PLATFORMS, help: 'the platform of a multi-platform image' },
      ],
    },
  ],
};
