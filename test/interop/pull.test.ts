// Pulls through the proxy are inputs, never outputs: images pushed straight to the registry
// (not through the proxy) are pulled by skopeo and podman; /v1/images must stay empty and the
// provenance must list exactly the pulled manifests as resolved dependencies.
import { join } from 'node:path';
import t from 'tap';
import type { InTotoStatement } from '../../src/provenance/statement-types.js';
import type { Assertions } from '../support/assert-recorded.js';
import { readRegistryContents, type StoredRepository } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import type { RunningRegistry } from '../support/registry.js';

const lab = await startLab({ name: 'pull', teardown: (fn) => t.teardown(fn), registries: ['open', 'token'] });
const open = lab.registry('open');
const token = lab.registry('token');
const pulledLayout = (name: string) => `oci:${join(lab.dir, 'pulled')}:${name}`;

// Seeded directly: the proxy must not see these pushes.
await lab.directClients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/pull/single:v1`);
await lab.directClients.skopeoCopy(lab.fixtures.ref('index'), `docker://${open.host}/pull/index:v1`, {
  all: true,
});
await lab.directClients.skopeoCopy(lab.fixtures.ref('multi'), `docker://${token.host}/pull/multi:v1`);

t.test('skopeo pulls an image', async (t) => {
  await lab.clients.skopeoCopy(`docker://${open.host}/pull/single:v1`, pulledLayout('single'));
  const repository = await storedRepository(open, 'pull/single');
  await assertPulled(t, open, repository, [repository.tags.v1 ?? '']);
});

t.test('podman pulls an index: the index and the child for its platform', async (t) => {
  await lab.clients.podmanPull(`docker://${open.host}/pull/index:v1`, ['--arch', 'amd64', '--os', 'linux']);
  const repository = await storedRepository(open, 'pull/index');
  const index = repository.manifests.find((manifest) => manifest.digest === repository.tags.v1);
  const amd64 = index?.body.manifests?.find((child) => child.platform?.architecture === 'amd64');
  t.ok(amd64, 'the index has an amd64 child');
  await assertPulled(t, open, repository, [repository.tags.v1 ?? '', amd64?.digest ?? '']);
});

t.test('skopeo pulls the index and all its children (copy --all)', async (t) => {
  await lab.clients.skopeoCopy(`docker://${open.host}/pull/index:v1`, pulledLayout('index'), { all: true });
  const repository = await storedRepository(open, 'pull/index');
  await assertPulled(
    t,
    open,
    repository,
    repository.manifests.map((manifest) => manifest.digest),
  );
});

t.test('skopeo pulls with a bearer token', async (t) => {
  await lab.clients.skopeoCopy(`docker://${token.host}/pull/multi:v1`, pulledLayout('multi'));
  const repository = await storedRepository(token, 'pull/multi');
  await assertPulled(t, token, repository, [repository.tags.v1 ?? '']);
});

t.test('nothing was pushed through the proxy, so nothing is an output', async (t) => {
  await lab.settle();
  t.same(await lab.proxy().images(), [], '/v1/images is empty');
  const statement = await lab.proxy().provenance();
  t.same(statement.subject, [], 'the provenance has no subject');
});

async function storedRepository(registry: RunningRegistry, name: string): Promise<StoredRepository> {
  const contents = await readRegistryContents(registry, {
    includeRepository: (repository) => repository === name,
  });
  const repository = contents.repositories[0];
  if (repository === undefined) throw new Error(`${registry.host}/${name} is missing`);
  return repository;
}

/**
 * The provenance lists every wanted manifest of the repository as a resolved dependency, and
 * for that repository nothing but those manifests and the blobs they reference.
 */
async function assertPulled(
  t: Assertions,
  registry: RunningRegistry,
  repository: StoredRepository,
  wantedManifests: string[],
): Promise<void> {
  await lab.settle();
  const statement = await lab.proxy().provenance();
  const recorded = dependencyDigests(statement, `${registry.host}/${repository.name}@`);
  const wanted = [...new Set(wantedManifests)].sort();
  const referencedBlobs = new Set(
    repository.manifests.flatMap((manifest) => [
      ...(manifest.body.layers ?? []).map((layer) => layer.digest),
      ...(manifest.body.config === undefined ? [] : [manifest.body.config.digest]),
    ]),
  );
  t.same(
    recorded.filter((digest) => !referencedBlobs.has(digest)),
    wanted,
    `${registry.host}/${repository.name}: the pulled manifests are resolved dependencies`,
  );
}

/** Digests of resolved dependencies whose uri or name starts with `prefix` (`registry/repo@`). */
function dependencyDigests(statement: InTotoStatement, prefix: string): string[] {
  const digests = new Set<string>();
  for (const dependency of statement.predicate.buildDefinition.resolvedDependencies ?? []) {
    const reference = [dependency.uri, dependency.name].find((value) => value?.startsWith(prefix));
    if (reference === undefined) continue;
    const sha256 = dependency.digest?.sha256;
    digests.add(sha256 === undefined ? reference.slice(prefix.length) : `sha256:${sha256}`);
  }
  return [...digests].sort();
}
