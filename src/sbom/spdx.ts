/**
 * The SPDX 2.3 JSON form of a catalog, written directly (the format is small and fixed): the image
 * as the described package (primaryPackagePurpose CONTAINER), its base as an ancestor, and every
 * package it CONTAINS with its purl, declared license and checksums. Files are not analyzed.
 */

import type { Catalog, PackageHash } from './catalog.js';
import { stableUuid } from './cyclonedx.js';
import type { SbomSubject } from './subject.js';

const SPDX_ALG: Record<PackageHash['alg'], string> = {
  MD5: 'MD5',
  'SHA-1': 'SHA1',
  'SHA-256': 'SHA256',
  'SHA-512': 'SHA512',
};
const EXPRESSION = /^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$/;

function spdxId(prefix: string, n: number, name: string): string {
  return `SPDXRef-${prefix}-${n}-${name.replace(/[^A-Za-z0-9.-]/g, '-')}`;
}

function imagePurl(name: string | undefined, digest: string): string {
  const repo =
    (name ?? 'image')
      .replace(/[:@].*$/, '')
      .split('/')
      .pop() ?? 'image';
  return `pkg:oci/${encodeURIComponent(repo)}@${encodeURIComponent(digest)}${name ? `?repository_url=${encodeURIComponent(name.replace(/[:@][^/]*$/, ''))}` : ''}`;
}

export function spdx(subject: SbomSubject, cat: Catalog): string {
  const created = `${new Date(subject.created).toISOString().slice(0, 19)}Z`;
  const name = subject.name ?? subject.digest;
  const image = {
    SPDXID: 'SPDXRef-Image',
    name,
    versionInfo: subject.digest,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'CONTAINER',
    checksums: [{ algorithm: 'SHA256', checksumValue: subject.digest.replace(/^sha256:/, '') }],
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: imagePurl(subject.name, subject.digest),
      },
    ],
    ...(subject.platform ? { comment: `platform ${subject.platform}` } : {}),
  };
  const packages: Record<string, unknown>[] = [image];
  const relationships: Record<string, string>[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' },
  ];
  if (subject.base) {
    packages.push({
      SPDXID: 'SPDXRef-BaseImage',
      name: subject.base.name,
      versionInfo: subject.base.digest,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      primaryPackagePurpose: 'CONTAINER',
      checksums: [{ algorithm: 'SHA256', checksumValue: subject.base.digest.replace(/^sha256:/, '') }],
      ...(subject.incomplete?.base
        ? { comment: 'contents unknown: its layers were not in the store and it has no SBOM of its own' }
        : {}),
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: imagePurl(subject.base.name, subject.base.digest),
        },
      ],
    });
    relationships.push({
      spdxElementId: 'SPDXRef-Image',
      relationshipType: 'DESCENDANT_OF',
      relatedSpdxElement: 'SPDXRef-BaseImage',
    });
  }
  if (cat.os) {
    packages.push({
      SPDXID: 'SPDXRef-OperatingSystem',
      name: cat.os.id,
      ...(cat.os.versionId ? { versionInfo: cat.os.versionId } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      primaryPackagePurpose: 'OPERATING-SYSTEM',
    });
    relationships.push({
      spdxElementId: 'SPDXRef-Image',
      relationshipType: 'CONTAINS',
      relatedSpdxElement: 'SPDXRef-OperatingSystem',
    });
  }
  for (const [i, p] of cat.packages.entries()) {
    const id = spdxId('Package', i, `${p.ecosystem}-${p.name}`);
    const license = p.licenses.length === 1 && EXPRESSION.test(p.licenses[0] as string) ? p.licenses[0] : undefined;
    packages.push({
      SPDXID: id,
      name: p.name,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: license ?? 'NOASSERTION',
      ...(license === undefined && p.licenses.length > 0 ? { licenseComments: p.licenses.join('; ') } : {}),
      ...(p.supplier ? { supplier: `Organization: ${p.supplier.replace(/\s*<[^>]*>\s*$/, '')}` } : {}),
      ...(p.hashes.length > 0
        ? { checksums: p.hashes.map((h) => ({ algorithm: SPDX_ALG[h.alg], checksumValue: h.content })) }
        : {}),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
      sourceInfo: `found in ${p.foundIn} (layer ${p.layer})`,
    });
    relationships.push({ spdxElementId: 'SPDXRef-Image', relationshipType: 'CONTAINS', relatedSpdxElement: id });
  }
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    documentNamespace: `https://gantry.invalid/spdx/${stableUuid(`spdx:${subject.digest}`)}`,
    creationInfo: { created, creators: [`Tool: gantry${subject.toolVersion ? `-${subject.toolVersion}` : ''}`] },
    packages,
    relationships,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
