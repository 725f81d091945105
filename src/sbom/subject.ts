/** What an SBOM describes: the image, where it came from, and when the document was made. */

export interface SbomSubject {
  /** The image's name (a reference without tag or digest is fine), or undefined for an unnamed image. */
  readonly name?: string;
  readonly digest: string;
  /** `os/arch[/variant]`. */
  readonly platform?: string;
  /** The image the final stage started from, when it is known. */
  readonly base?: {
    readonly name: string;
    readonly digest: string;
    /** The digest of the base's own SBOM (a referrer) its packages were taken from, instead of its layers. */
    readonly sbom?: string;
  };
  /**
   * What the document cannot list: the base's contents (its layers were neither in the store nor
   * described by an SBOM of its own), and the digests of other layers that were not read.
   */
  readonly incomplete?: { readonly base: boolean; readonly layers: readonly string[] };
  /** RFC 3339 time written into the document. */
  readonly created: string;
  readonly toolVersion?: string;
}
