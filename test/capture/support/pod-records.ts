import type { InTotoStatement } from '../../../src/provenance/statement-types.js';
import type { Assertions } from '../../support/assert-recorded.js';
import { readManifest } from '../../support/ground-truth.js';
import { compareRecordWithRegistries } from '../../support/recorded-vs-registry.js';
import type { RunningRegistry } from '../../support/registry.js';
import { waitUntil } from '../../support/wait-until.js';
import type { PodLab } from './pod-lab.js';

/**
 * Asserts that /v1/images, for the repositories under `prefix`, equals what the pod's registry
 * stores (digests, tags, media types, blob dispositions from its own log), and that the
 * statement names each stored tagged manifest as a subject. `addressedAs`: the registry name
 * the build used (the proxy records that, not the relay's).
 */
export async function assertPushesRecorded(
  t: Assertions,
  lab: PodLab,
  registry: RunningRegistry,
  prefix: string,
  addressedAs: string,
): Promise<void> {
  const target = { registry, addressedAs, includeRepository: (name: string) => name.startsWith(prefix) };
  // The record is written after the registry answered the manifest PUT: poll until it caught up.
  const comparison = await waitUntil(
    async () => {
      const compared = await compareRecordWithRegistries(await lab.proxy.images(), [target]);
      return compared.expected.length > 0 && sameJson(compared.actual, compared.expected) ? compared : false;
    },
    { what: `the pushes under ${prefix} in /v1/images`, attempts: 100, intervalMs: 100 },
  ).catch(async () => compareRecordWithRegistries(await lab.proxy.images(), [target]));
  t.ok(comparison.expected.length > 0, `${prefix}: the registry holds what was pushed`);
  t.same(comparison.actual, comparison.expected, `${prefix}: /v1/images equals the registry's contents`);
  t.same(comparison.blobProblems, [], `${prefix}: blob dispositions agree with the registry's log`);
  const subjects = subjectDigests(await lab.proxy.provenance(), addressedAs);
  const tagged = comparison.expected.filter((image) => image.tags.length > 0);
  for (const image of tagged)
    t.ok(
      subjects.has(`${image.repository}@${image.digest}`),
      `the statement names ${addressedAs}/${image.repository}@${image.digest} as a subject`,
    );
}

/**
 * Runs `pull` and asserts that the statement then lists the manifest the registry serves for
 * `repository:tag` as a resolved dependency, and did not before (the manifest is read directly
 * from the registry, never through the proxy).
 */
export async function assertPullRecorded(
  t: Assertions & { equal(found: unknown, wanted: unknown, message: string): boolean },
  lab: PodLab,
  registry: RunningRegistry,
  reference: { repository: string; tag: string },
  pull: () => { status: number | null; stderr: string },
): Promise<void> {
  const { repository, tag } = reference;
  const stored = await readManifest(registry.directClient(), repository, tag);
  const hex = stored.digest.replace('sha256:', '');
  const dependency = async () =>
    ((await lab.proxy.provenance()).predicate.buildDefinition.resolvedDependencies ?? []).find(
      (entry) =>
        entry.digest?.sha256 === hex &&
        [entry.uri, entry.name].some((text) => text?.includes(`/${repository}@`)),
    );
  t.ok((await dependency()) === undefined, `${repository}:${tag} is not a dependency before the pull`);
  const result = pull();
  t.equal(result.status, 0, `the pull of ${repository}:${tag} succeeded: ${result.stderr.slice(-500)}`);
  const found = await waitUntil(dependency, {
    what: `${repository}@${stored.digest} as a resolved dependency`,
    attempts: 100,
    intervalMs: 100,
  }).catch(() => undefined);
  t.ok(found, `the pull of ${repository}:${tag} is a resolved dependency with the stored digest`);
}

/** `repository@sha256:…` of every statement subject under `registryName`. */
function subjectDigests(statement: InTotoStatement, registryName: string): Set<string> {
  const found = new Set<string>();
  for (const subject of statement.subject) {
    const name = (subject.name ?? '').replace(/^https?:\/\//, '');
    if (!name.startsWith(`${registryName}/`) || subject.digest?.sha256 === undefined) continue;
    found.add(
      `${name.slice(registryName.length + 1).replace(/[:@].*$/, '')}@sha256:${subject.digest.sha256}`,
    );
  }
  return found;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
