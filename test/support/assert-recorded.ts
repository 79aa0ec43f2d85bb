import type { Lab } from './lab.js';
import type { GroundTruthTarget } from './recorded-vs-registry.js';

/** The part of a tap test these helpers use (structural, so support code does not depend on tap). */
export interface Assertions {
  same(found: unknown, wanted: unknown, message: string): boolean;
  ok(value: unknown, message: string): boolean;
}

/**
 * Asserts that the proxy's /v1/images, restricted to the targets, equals what the registries
 * hold (repositories, tags, digests, media types, kinds, subjects, children) and that each
 * record's blob dispositions agree with the registry's own log.
 * With `nothingElse`, also asserts the proxy recorded no image outside the targets; with
 * `expectNoImages`, that the registries hold no manifest there (after a failed push), so the
 * record must be empty too.
 */
export async function assertRecordedExactly(
  t: Assertions,
  lab: Lab,
  targets: readonly GroundTruthTarget[],
  options: { nothingElse?: boolean; what?: string; expectNoImages?: boolean } = {},
): Promise<void> {
  const what = options.what ?? 'the proxy';
  const comparison = await lab.compare(targets);
  if (options.expectNoImages === true) {
    t.same(comparison.expected, [], `${what}: the registries hold no image there`);
  } else if (options.nothingElse !== true) {
    t.ok(comparison.expected.length > 0, `${what}: the registries hold something to compare`);
  }
  t.same(comparison.actual, comparison.expected, `${what}: recorded images equal the registry's contents`);
  t.same(comparison.blobProblems, [], `${what}: blob dispositions agree with the registry's log`);
  if (options.nothingElse === true) t.same(comparison.outside, [], `${what}: nothing else was recorded`);
}

/** A target covering the repositories whose names start with `prefix` in one registry. */
export function repositoriesUnder(
  registry: GroundTruthTarget['registry'],
  prefix: string,
  addressedAs?: string,
): GroundTruthTarget {
  return { registry, addressedAs, includeRepository: (name) => name.startsWith(prefix) };
}

/** A target covering exactly the named repositories. */
export function repositories(
  registry: GroundTruthTarget['registry'],
  names: readonly string[],
  addressedAs?: string,
): GroundTruthTarget {
  return { registry, addressedAs, includeRepository: (name) => names.includes(name) };
}
