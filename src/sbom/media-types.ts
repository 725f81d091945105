/** The SBOM formats and their media types, apart from the SBOM makers (a build loads only these when it makes no SBOM). */
export type SbomFormat = 'cyclonedx' | 'spdx';

/** The media type (and referrer artifactType) of each format. */
export const SBOM_MEDIA_TYPES: Readonly<Record<SbomFormat, string>> = {
  cyclonedx: 'application/vnd.cyclonedx+json',
  spdx: 'application/spdx+json',
};
