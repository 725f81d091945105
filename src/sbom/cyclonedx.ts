/**
 * The CycloneDX 1.6 JSON form of a catalog, built with @cyclonedx/cyclonedx-library (loaded on
 * first use, so commands that write no SBOM never load it). Deterministic: bom-refs are purls,
 * lists are sorted, the serial number is derived from the image digest and the timestamp is the
 * one given (SOURCE_DATE_EPOCH for builds).
 */
import { createHash } from 'node:crypto';
import type { Catalog, ImagePackage, PackageHash } from './catalog.js';
import type { SbomSubject } from './subject.js';

/** A UUID (version 5 layout) derived from `seed`, for a serial number that is the same for the same image. */
export function stableUuid(seed: string): string {
  const h = createHash('sha1').update(seed).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export async function cycloneDx(subject: SbomSubject, cat: Catalog): Promise<string> {
  const CDX = await import('@cyclonedx/cyclonedx-library');
  const { Models, Enums } = CDX;
  const alg = (a: PackageHash['alg']) => Enums.HashAlgorithm[a];
  const hashes = (list: readonly PackageHash[]) => {
    const d = new Models.HashDictionary();
    for (const h of list) d.set(alg(h.alg), h.content);
    return d;
  };
  const bom = new Models.Bom();
  bom.serialNumber = `urn:uuid:${stableUuid(`cyclonedx:${subject.digest}`)}`;
  bom.metadata.timestamp = new Date(subject.created);
  bom.metadata.tools.components.add(
    new Models.Component(Enums.ComponentType.Application, 'gantry', {
      bomRef: 'tool:gantry',
      ...(subject.toolVersion ? { version: subject.toolVersion } : {}),
    }),
  );
  const image = new Models.Component(Enums.ComponentType.Container, subject.name ?? 'image', {
    bomRef: `image:${subject.digest}`,
    version: subject.digest,
    hashes: hashes([{ alg: 'SHA-256', content: subject.digest.replace(/^sha256:/, '') }]),
  });
  if (subject.platform) image.properties.add(new Models.Property('gantry:image:platform', subject.platform));
  bom.metadata.component = image;
  if (subject.base) {
    bom.metadata.properties.add(new Models.Property('org.opencontainers.image.base.name', subject.base.name));
    bom.metadata.properties.add(new Models.Property('org.opencontainers.image.base.digest', subject.base.digest));
    const base = new Models.Component(Enums.ComponentType.Container, subject.base.name, {
      bomRef: `base:${subject.base.digest}`,
      version: subject.base.digest,
      hashes: hashes([{ alg: 'SHA-256', content: subject.base.digest.replace(/^sha256:/, '') }]),
    });
    base.properties.add(new Models.Property('gantry:image:base', 'true'));
    if (subject.base.sbom) base.properties.add(new Models.Property('gantry:sbom:source', subject.base.sbom));
    bom.components.add(base);
  }
  if (cat.os) {
    bom.components.add(
      new Models.Component(Enums.ComponentType.OperatingSystem, cat.os.id, {
        bomRef: `os:${cat.os.id}@${cat.os.versionId ?? ''}`,
        ...(cat.os.versionId ? { version: cat.os.versionId } : {}),
        ...(cat.os.prettyName ? { description: cat.os.prettyName } : {}),
      }),
    );
  }
  const seen = new Set<string>();
  for (const p of cat.packages) {
    // One component per purl and place: the same package in two node_modules trees is two copies.
    let ref = p.purl;
    if (seen.has(ref)) ref = `${p.purl}#${p.foundIn}`;
    if (seen.has(ref)) continue;
    seen.add(ref);
    bom.components.add(packageComponent(CDX, p, ref, hashes));
  }
  for (const d of subject.incomplete?.layers ?? [])
    bom.metadata.properties.add(new Models.Property('gantry:sbom:unread-layer', d));
  const serializer = new CDX.Serialize.JsonSerializer(new CDX.Serialize.JSON.Normalize.Factory(CDX.Spec.Spec1dot6));
  const text = serializer.serialize(bom, { sortLists: true, space: 2 });
  return subject.incomplete ? withCompositions(text, subject) : text;
}

/**
 * CycloneDX `compositions` (the library has no model for them): the image's list is incomplete,
 * and the base's contents are unknown when its layers were not read.
 */
function withCompositions(text: string, subject: SbomSubject): string {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const compositions: { aggregate: string; assemblies: string[] }[] = [
    { aggregate: 'incomplete', assemblies: [`image:${subject.digest}`] },
  ];
  if (subject.incomplete?.base && subject.base)
    compositions.push({ aggregate: 'unknown', assemblies: [`base:${subject.base.digest}`] });
  return JSON.stringify({ ...doc, compositions }, null, 2);
}

type Lib = typeof import('@cyclonedx/cyclonedx-library');

function packageComponent(
  CDX: Lib,
  p: ImagePackage,
  ref: string,
  hashes: (l: readonly PackageHash[]) => InstanceType<Lib['Models']['HashDictionary']>,
) {
  const { Models, Enums } = CDX;
  const c = new Models.Component(Enums.ComponentType.Library, p.name, {
    bomRef: ref,
    version: p.version,
    purl: p.purl,
    hashes: hashes(p.hashes),
  });
  for (const l of p.licenses) {
    // An SPDX expression when it looks like one; otherwise the name as the database gives it.
    c.licenses.add(
      /^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$/.test(l)
        ? new Models.LicenseExpression(l)
        : new Models.NamedLicense(l),
    );
  }
  if (p.supplier) c.supplier = new Models.OrganizationalEntity({ name: p.supplier });
  c.properties.add(new Models.Property('gantry:package:type', p.ecosystem));
  if (p.foundIn !== '') c.properties.add(new Models.Property('gantry:location:0:path', p.foundIn));
  c.properties.add(new Models.Property('gantry:location:0:layer', String(p.layer)));
  for (const f of p.files) {
    c.components.add(
      new Models.Component(Enums.ComponentType.File, f.path, {
        bomRef: `${ref}:file:${f.path}`,
        hashes: hashes(f.hashes),
      }),
    );
  }
  return c;
}
