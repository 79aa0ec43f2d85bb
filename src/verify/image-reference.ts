import { registryKey } from '../oci/reference.js';
import { ReferenceFormatError } from './verify-errors.js';

/** `<registry>/<repository>@sha256:<hex>`, the one form `verify` accepts: a digest names exactly one image. */
export interface DigestReference {
  /** Host with port, lower-cased; Docker Hub aliases become `docker.io`. */
  readonly registry: string;
  /** Repository path; `library/` added for Docker Hub's official images. */
  readonly repository: string;
  /** Lower-case hex of the sha256 digest. */
  readonly hex: string;
}

/** A host name may end in the root's dot (`registry.example.com.`); it is dropped when canonicalised. */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?)(?::\d{1,5})?$/;
/** Repository name grammar from the OCI distribution spec. */
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const SHA256 = /^sha256:([a-f0-9]{64})$/;
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * Puts a registry and repository in the form clients write references in, so that the name in a
 * statement and the name a user types compare equal whichever Docker Hub host either of them used.
 */
export function canonicalImageName(
  registry: string,
  repository: string,
): { registry: string; repository: string } {
  const host = registryKey(registry);
  if (!DOCKER_HUB_ALIASES.has(host)) return { registry: host, repository };
  return {
    registry: 'docker.io',
    repository: repository.includes('/') ? repository : `library/${repository}`,
  };
}

/** Splits a statement subject name (`registry/repository`) into canonical parts, or undefined if it is not one. */
export function parseImageName(name: string): { registry: string; repository: string } | undefined {
  const slash = name.indexOf('/');
  if (slash <= 0) return undefined;
  const registry = name.slice(0, slash);
  const repository = name.slice(slash + 1);
  if (!HOST.test(registry) || !REPOSITORY.test(repository)) return undefined;
  return canonicalImageName(registry, repository);
}

export function parseDigestReference(text: string): DigestReference {
  const usage = 'give <registry>/<repository>@sha256:<hex>';
  const at = text.lastIndexOf('@');
  if (at < 0) throw new ReferenceFormatError(`${JSON.stringify(text)} has no digest; ${usage}`);
  const digest = SHA256.exec(text.slice(at + 1));
  if (!digest)
    throw new ReferenceFormatError(`the digest must be sha256: and 64 lower-case hex digits; ${usage}`);
  const name = text.slice(0, at);
  const slash = name.indexOf('/');
  const registry = slash > 0 ? name.slice(0, slash) : '';
  const isHost = registry.includes('.') || registry.includes(':') || registry.toLowerCase() === 'localhost';
  if (!isHost || !HOST.test(registry)) {
    throw new ReferenceFormatError(`${JSON.stringify(name)} does not start with a registry host; ${usage}`);
  }
  const repository = name.slice(slash + 1);
  if (repository.includes(':')) {
    throw new ReferenceFormatError(
      `give the digest without a tag (the digest is what is verified); ${usage}`,
    );
  }
  if (!REPOSITORY.test(repository)) {
    throw new ReferenceFormatError(`${JSON.stringify(repository)} is not a valid repository name; ${usage}`);
  }
  return { ...canonicalImageName(registry, repository), hex: digest[1]! };
}

export function formatDigestReference(reference: DigestReference): string {
  return `${reference.registry}/${reference.repository}@sha256:${reference.hex}`;
}

/** The Grafeas `resourceUri` an occurrence about this image carries. */
export function grafeasResourceUrl(reference: DigestReference): string {
  return `https://${formatDigestReference(reference)}`;
}
