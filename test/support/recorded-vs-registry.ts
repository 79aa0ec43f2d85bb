import { compareImages, expectedImages, type ImagesComparison } from './expected-images.js';
import { readRegistryContents } from './ground-truth.js';
import { type ComparableImage, comparableImage, type ImageRecord, sortImages } from './images-contract.js';
import type { RunningRegistry } from './registry.js';
import { observedBlobs } from './registry-log.js';
import { BARRIER_REPOSITORY_PREFIX } from './settle-barrier.js';

/** A registry whose contents are the ground truth for part of the proxy's record. */
export interface GroundTruthTarget {
  registry: RunningRegistry;
  /**
   * The host:port clients addressed, when not the registry's own (a fault proxy in front of
   * it): the proxy records what the client addressed.
   */
  addressedAs?: string;
  /** Only these repositories (default: every repository in the registry). */
  includeRepository?: (name: string) => boolean;
}

export interface RecordComparison extends ImagesComparison {
  /** Records that belong to none of the targets (with an unfiltered target list: "nothing else"). */
  outside: ComparableImage[];
}

/**
 * Reads each target registry directly (catalog, tags, manifests, and its request log for blob
 * dispositions) and holds the proxy's `/v1/images` against it. The settle barrier's
 * repositories are left out on both sides.
 */
export async function compareRecordWithRegistries(
  recorded: readonly ImageRecord[],
  targets: readonly GroundTruthTarget[],
): Promise<RecordComparison> {
  const result: RecordComparison = { actual: [], expected: [], blobProblems: [], outside: [] };
  const covered = new Set<ImageRecord>();
  const compared = recorded.filter((image) => !image.repository.startsWith(BARRIER_REPOSITORY_PREFIX));
  for (const target of targets) {
    const host = target.addressedAs ?? target.registry.host;
    const wanted = target.includeRepository ?? (() => true);
    const includeRepository = (name: string) => !name.startsWith(BARRIER_REPOSITORY_PREFIX) && wanted(name);
    const contents = await readRegistryContents(target.registry, { includeRepository });
    const observed = observedBlobs(await target.registry.requestLog());
    const includes = (registry: string, repository: string) =>
      registry === host && includeRepository(repository);
    for (const image of compared) if (includes(image.registry, image.repository)) covered.add(image);
    const comparison = compareImages(compared, expectedImages({ ...contents, host }), observed, includes);
    result.actual.push(...comparison.actual);
    result.expected.push(...comparison.expected);
    result.blobProblems.push(...comparison.blobProblems);
  }
  result.actual = sortImages(result.actual);
  result.expected = sortImages(result.expected);
  result.outside = sortImages(compared.filter((image) => !covered.has(image)).map(comparableImage));
  return result;
}
