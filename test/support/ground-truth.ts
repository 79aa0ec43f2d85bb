import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_ACCEPT, type ManifestBody } from './manifest-types.js';
import type { RunningRegistry } from './registry.js';
import type { RegistryClient } from './registry-client.js';

/** One manifest as the registry stores it. */
export interface StoredManifest {
  /** sha256 of the bytes the registry returned, computed here. */
  digest: string;
  /** The registry's Docker-Content-Digest header for the same GET. */
  registryDigest: string | undefined;
  /** The registry's Content-Type for the manifest. */
  mediaType: string;
  bytes: Buffer;
  body: ManifestBody;
}

export interface StoredRepository {
  name: string;
  /** tag → manifest digest. */
  tags: Record<string, string>;
  /** Every manifest revision stored in the repository, tagged or not, sorted by digest. */
  manifests: StoredManifest[];
}

/** What a registry holds, read directly from it (never through the proxy under test). */
export interface RegistryContents {
  host: string;
  repositories: StoredRepository[];
}

/** distribution 2.8 refuses pages larger than its catalog.maxentries (1000 by default). */
const CATALOG_PAGE_SIZE = 1000;
const MAX_CATALOG_PAGES = 100;

/** The registry answered a ground-truth read with something unexpected. */
export class GroundTruthError extends Error {
  readonly code = 'ERR_TEST_GROUND_TRUTH';
}

export interface ReadContentsOptions {
  /** Only repositories whose name passes (default: all). */
  includeRepository?: (name: string) => boolean;
}

/**
 * Reads repositories (`/v2/_catalog`), tags (`/tags/list`) and manifests from the registry's
 * API, with the registry's own auth. Untagged manifests (index children, pushes by digest) have
 * no listing API in distribution 2.8, so their digests come from the registry's storage
 * directory (`_manifests/revisions`), and their bytes from the API again.
 */
export async function readRegistryContents(
  registry: RunningRegistry,
  options: ReadContentsOptions = {},
): Promise<RegistryContents> {
  const client = registry.directClient();
  const names = (await catalogRepositories(client)).filter(options.includeRepository ?? (() => true)).sort();
  const repositories: StoredRepository[] = [];
  for (const name of names) repositories.push(await readRepository(registry, client, name));
  return { host: registry.host, repositories };
}

/** Every repository name, following the catalog's `Link: <…>; rel="next"` pages. */
async function catalogRepositories(client: RegistryClient): Promise<string[]> {
  const names: string[] = [];
  let path: string | undefined = `/v2/_catalog?n=${CATALOG_PAGE_SIZE}`;
  for (let page = 0; path !== undefined && page < MAX_CATALOG_PAGES; page++) {
    const response = await client.request({ path });
    if (response.status !== 200)
      throw new GroundTruthError(`GET ${client.host}${path} answered ${response.status}`);
    names.push(
      ...((JSON.parse(response.body.toString('utf8')) as { repositories?: string[] }).repositories ?? []),
    );
    const link = response.headers.link;
    path = typeof link === 'string' ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
  }
  return names;
}

async function readRepository(
  registry: RunningRegistry,
  client: RegistryClient,
  name: string,
): Promise<StoredRepository> {
  const tagList = await getJson<{ tags?: string[] | null }>(client, `/v2/${name}/tags/list`);
  const tags: Record<string, string> = {};
  const manifests = new Map<string, StoredManifest>();
  for (const tag of [...(tagList.tags ?? [])].sort()) {
    const manifest = await readManifest(client, name, tag);
    tags[tag] = manifest.digest;
    manifests.set(manifest.digest, manifest);
  }
  for (const digest of await storedRevisions(registry, name)) {
    if (!manifests.has(digest)) manifests.set(digest, await readManifest(client, name, digest));
  }
  const sorted = [...manifests.values()].sort((a, b) => a.digest.localeCompare(b.digest));
  return { name, tags, manifests: sorted };
}

/** GET a manifest by tag or digest; checks a digest reference against the bytes. */
export async function readManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
): Promise<StoredManifest> {
  const response = await client.request({
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (response.status !== 200) {
    throw new GroundTruthError(
      `GET ${client.host}/v2/${repository}/manifests/${reference} answered ${response.status}`,
    );
  }
  const digest = sha256Digest(response.body);
  if (reference.startsWith('sha256:') && reference !== digest) {
    throw new GroundTruthError(
      `${repository}@${reference}: the registry returned bytes hashing to ${digest}`,
    );
  }
  const header = response.headers['docker-content-digest'];
  return {
    digest,
    registryDigest: Array.isArray(header) ? header[0] : header,
    mediaType: String(response.headers['content-type'] ?? '').split(';')[0] ?? '',
    bytes: response.body,
    body: JSON.parse(response.body.toString('utf8')) as ManifestBody,
  };
}

/** Digests of every manifest revision the registry keeps for a repository (its storage layout). */
async function storedRevisions(registry: RunningRegistry, repository: string): Promise<string[]> {
  const dir = join(
    registry.storageDir,
    'docker/registry/v2/repositories',
    repository,
    '_manifests/revisions/sha256',
  );
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const digests: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    // A deleted revision keeps its directory but loses its link file.
    const linked: string[] = await readdir(join(dir, entry.name)).catch(() => []);
    if (linked.includes('link')) digests.push(`sha256:${entry.name}`);
  }
  return digests.sort();
}

async function getJson<T>(client: RegistryClient, path: string): Promise<T> {
  const response = await client.request({ path });
  if (response.status === 404) return {} as T;
  if (response.status !== 200)
    throw new GroundTruthError(`GET ${client.host}${path} answered ${response.status}`);
  return JSON.parse(response.body.toString('utf8')) as T;
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
