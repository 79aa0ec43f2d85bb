import { type Digest, parseDigest } from './digest.js';
import { InvalidReferenceError, InvalidRepositoryNameError } from './errors.js';

/**
 * The one image-name grammar: repository names, tags, manifest references, registry identities and
 * whole image references (`[registry/]repository[:tag][@digest]`), parsed once and formatted back
 * the way clients write them. The proxy, the statement and `verify` all go through it, so a name the
 * statement writes and a name a user types compare equal (after go-containerregistry's `pkg/name`).
 *
 * Name grammar (distribution-spec, "Pulling manifests"):
 *   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * Tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 */

const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution's reference package caps the full name at 255 characters. */
const MAX_NAME_LENGTH = 255;

export function parseRepositoryName(text: string): string {
  if (text.length === 0) throw new InvalidRepositoryNameError(text, 'empty');
  if (text.length > MAX_NAME_LENGTH)
    throw new InvalidRepositoryNameError(text, `longer than ${MAX_NAME_LENGTH}`);
  const components = text.split('/');
  for (const component of components) {
    // Named separately from the grammar failure so operators see an attack as an attack.
    if (component === '..' || component === '.') throw new InvalidRepositoryNameError(text, 'path traversal');
    if (component.length === 0) throw new InvalidRepositoryNameError(text, 'empty path component');
    if (/[A-Z]/.test(component)) throw new InvalidRepositoryNameError(text, 'uppercase is not allowed');
    if (!NAME_COMPONENT.test(component)) {
      throw new InvalidRepositoryNameError(text, 'component must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*');
    }
  }
  return text;
}

export function parseTag(text: string): string {
  if (!TAG.test(text))
    throw new InvalidReferenceError(text, 'tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}');
  return text;
}

export type ManifestReference =
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'digest'; readonly digest: Digest };

/** The `<reference>` of `/v2/<name>/manifests/<reference>`: a digest when it has a colon, else a tag. */
export function parseManifestReference(text: string): ManifestReference {
  if (text.includes(':')) return { kind: 'digest', digest: parseDigest(text) };
  return { kind: 'tag', tag: parseTag(text) };
}

/**
 * Which registry an exchange talked to. `authority` (lowercased host:port, exactly the
 * port the client addressed) is the identity: `registry.test:5000` and `registry.test:5001`
 * are different registries. `display` is how clients write it in references.
 */
export interface RegistryIdentity {
  readonly authority: string;
  readonly host: string;
  readonly port: number;
  readonly display: string;
}

const DOCKER_HUB_HOSTS: ReadonlySet<string> = new Set([
  'registry-1.docker.io',
  'index.docker.io',
  'docker.io',
]);
export const DOCKER_HUB_DISPLAY = 'docker.io';
/** An IPv6 literal in brackets or dot-separated DNS labels, then an optional port. */
const AUTHORITY =
  /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::(\d{1,5}))?$/;
const MAX_AUTHORITY_LENGTH = 253 + ':65535'.length + 1;
const DEFAULT_PORTS: Readonly<Record<'http' | 'https', number>> = { http: 80, https: 443 };

/**
 * `host:port` as the record keys registries: lower-cased, and a host name's trailing dot (the
 * fully-qualified spelling, `registry.example.com.`) dropped, so both spellings name one
 * registry and a subject written with the dot can still be matched by `verify`.
 */
export function registryKey(authority: string): string {
  return authority.toLowerCase().replace(/^([^[\]:]+)\.(?=:\d+$|$)/, '$1');
}

export function parseRegistryAuthority(
  authority: string,
  scheme: 'http' | 'https' = 'https',
): RegistryIdentity {
  // A DNS name is at most 253 characters; the cap also bounds the regex's backtracking.
  if (authority.length > MAX_AUTHORITY_LENGTH)
    throw new InvalidReferenceError(authority, 'registry host too long');
  const match = AUTHORITY.exec(registryKey(authority));
  if (!match) throw new InvalidReferenceError(authority, 'registry authority must be host[:port]');
  const host = match[1]!.toLowerCase();
  const port = match[2] === undefined ? DEFAULT_PORTS[scheme] : Number(match[2]);
  if (port < 1 || port > 65535) throw new InvalidReferenceError(authority, 'port out of range');
  const hostPort = `${host}:${port}`;
  let display: string;
  if (DOCKER_HUB_HOSTS.has(host) && port === DEFAULT_PORTS.https) display = DOCKER_HUB_DISPLAY;
  else if (port === DEFAULT_PORTS[scheme]) display = host;
  else display = hostPort;
  return Object.freeze({ authority: hostPort, host, port, display });
}

/** Registry display form for an authority; never throws (falls back to the authority itself). */
export function displayRegistry(authority: string): string {
  try {
    return parseRegistryAuthority(authority).display;
  } catch {
    return authority;
  }
}

/** Docker Hub keeps official images under `library/`; clients write them that way in full references. */
export function displayRepository(authority: string, repository: string): string {
  if (displayRegistry(authority) === DOCKER_HUB_DISPLAY && !repository.includes('/'))
    return `library/${repository}`;
  return repository;
}

/** `registry/repository@sha256:…`, the way a client would pull exactly these bytes. */
export function formatDigestReference(authority: string, repository: string, digest: string): string {
  return `${displayRegistry(authority)}/${displayRepository(authority, repository)}@${digest}`;
}

export function formatTagReference(authority: string, repository: string, tag: string): string {
  return `${displayRegistry(authority)}/${displayRepository(authority, repository)}:${tag}`;
}

/** `registry/repository`: the in-toto subject name. */
export function formatRepository(authority: string, repository: string): string {
  return `${displayRegistry(authority)}/${displayRepository(authority, repository)}`;
}

/** A repository in a registry; `repository` is canonical (`library/` added for Docker Hub's official images). */
export interface ImageName {
  readonly registry: RegistryIdentity;
  readonly repository: string;
}

/** `[registry/]repository[:tag][@digest]`; a tag and a digest may both be written (`x:v1@sha256:…`). */
export interface ImageReference extends ImageName {
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

export interface ReferenceOptions {
  /**
   * Refuse a name whose registry is implicit (`alpine`, `lab/app`) rather than default it to Docker
   * Hub: where the name must say exactly which registry it means (pkg/name's StrictValidation).
   */
  readonly strict?: boolean;
}

/** Docker's rule: the first component names a registry when it has a `.` or a `:`, or is `localhost`. */
function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component.toLowerCase() === 'localhost';
}

/** `[registry/]repository`, no tag, no digest. */
export function parseImageName(text: string, options: ReferenceOptions = {}): ImageName {
  const slash = text.indexOf('/');
  const first = slash > 0 ? text.slice(0, slash) : '';
  let registry: RegistryIdentity;
  let path: string;
  if (looksLikeRegistry(first)) {
    registry = parseRegistryAuthority(first);
    path = text.slice(slash + 1);
  } else if (options.strict) {
    throw new InvalidReferenceError(text, 'it does not start with a registry host (host[:port]/repository)');
  } else {
    registry = parseRegistryAuthority(DOCKER_HUB_DISPLAY);
    path = text;
  }
  const repository = parseRepositoryName(path);
  return Object.freeze({ registry, repository: displayRepository(registry.authority, repository) });
}

/** `[registry/]repository[:tag][@digest]`. The tag is the part after the last `:` that follows the last `/`. */
export function parseImageReference(text: string, options: ReferenceOptions = {}): ImageReference {
  const at = text.indexOf('@');
  if (at >= 0 && /[@/]/.test(text.slice(at + 1))) {
    throw new InvalidReferenceError(text, 'only a digest may follow "@" (no user@ in an image name)');
  }
  const digest = at < 0 ? undefined : parseDigest(text.slice(at + 1));
  const named = at < 0 ? text : text.slice(0, at);
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/') && colon > named.lastIndexOf(']');
  const tag = hasTag ? parseTag(named.slice(colon + 1)) : undefined;
  const name = parseImageName(hasTag ? named.slice(0, colon) : named, options);
  return Object.freeze({ ...name, tag, digest });
}

/** `registry/repository`, the form statement subjects are named in. */
export function formatImageName(name: ImageName): string {
  return `${name.registry.display}/${name.repository}`;
}

export function formatImageReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest.value}`;
  return `${formatImageName(reference)}${tag}${digest}`;
}

/** Same repository of the same registry, however either was spelled (Docker Hub aliases, `:443`, a trailing dot, case). */
export function sameImageName(a: ImageName, b: ImageName): boolean {
  return a.registry.display === b.registry.display && a.repository === b.repository;
}
