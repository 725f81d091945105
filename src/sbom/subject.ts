/** What an SBOM describes: the image, where it came from, and when the document was made. */

export interface SbomSubject {
  /** The image's name (a reference without tag or digest is fine), or undefined for an unnamed image. */
  readonly name?: string;
  readonly digest: string;
  /** `os/arch[/variant]`. */
  readonly platform?: string;
  /** The image the final stage started from, when it is known. */
  readonly base?: { readonly name: string; readonly digest: string };
  /** RFC 3339 time written into the document. */
  readonly created: string;
  readonly toolVersion?: string;
}
