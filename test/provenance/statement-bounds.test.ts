// Issue 8: a statement is bounded by construction, whatever the build does: every list a build can
// grow is capped with an explicit count of what was left out, and the egress summary names the top
// hosts and sums the rest, while the journal keeps every host.
import t from 'tap';
import { EGRESS_TOP_HOSTS, EgressTally } from '../../src/provenance/egress-summary.js';
import {
  boundStatement,
  MAX_STATEMENT_BYTES,
  OMITTED_URN,
  StatementTooLargeError,
  statementBytes,
} from '../../src/provenance/statement-bounds.js';
import {
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  type ResourceDescriptor,
  SLSA_PROVENANCE_V1,
} from '../../src/provenance/statement-types.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');

function hostileTally(hosts: number): EgressTally {
  const tally = new EgressTally();
  for (let n = 0; n < hosts; n += 1) {
    tally.addExchange({
      authority: `host-${n}.${'a'.repeat(60)}.example:443`,
      request: { size: n } as never,
      response: { size: 10 } as never,
      failure: n % 2 === 0 ? ('connect_refused' as never) : null,
    });
  }
  return tally;
}

function hostileStatement(scale: number, egress = hostileTally(scale).summary()): InTotoStatement {
  const subject: ResourceDescriptor[] = Array.from({ length: scale }, (_, i) => ({
    name: `registry.test:5000/hostile/r${i}`,
    digest: { sha256: hex(i) },
    annotations: {
      tags: Array.from({ length: 100 }, (_, j) => `t${j}-${'x'.repeat(120)}`),
      blobs: { uploaded: 1, unaccounted: Array.from({ length: 200 }, (_, j) => `sha256:${hex(j)}`) },
    },
  }));
  const dependencies: ResourceDescriptor[] = Array.from({ length: scale }, (_, i) => ({
    uri: `https://downloads.example/${'p'.repeat(8000)}/${i}`,
    digest: { sha256: hex(i) },
    annotations: { kind: 'download', size: i },
  }));
  const byproducts: ResourceDescriptor[] = [
    {
      name: 'egress-summary',
      uri: 'urn:provenance-proxy:byproduct:egress-summary',
      annotations: { ...egress },
    },
    ...Array.from({ length: scale }, (_, i) => ({
      name: 'upload',
      uri: `https://uploads.example/${i}`,
      digest: { sha256: hex(i) },
    })),
    {
      name: 'oci-anomalies',
      uri: 'urn:provenance-proxy:byproduct:oci-anomalies',
      annotations: {
        anomalies: Array.from({ length: scale }, (_, i) => ({ code: 'x', detail: 'd'.repeat(500 + i) })),
      },
    },
  ];
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: 'https://provenance-proxy.dev/buildtypes/egress-observed/v1',
        externalParameters: {},
        resolvedDependencies: dependencies,
      },
      runDetails: { builder: { id: 'https://builder.example/proxy' }, byproducts },
    },
  };
}

t.test('the egress summary names the top hosts by bytes and sums the rest exactly', async (t) => {
  const tally = hostileTally(5000);
  const summary = tally.summary();
  t.equal(summary.hosts.length, EGRESS_TOP_HOSTS);
  t.equal(summary.otherHosts.count, 5000 - EGRESS_TOP_HOSTS);
  const listedBytes = summary.hosts.reduce((s, h) => s + h.bytesSent, 0);
  t.equal(listedBytes + summary.otherHosts.bytesSent, (4999 * 5000) / 2, 'no byte is lost in the sums');
  t.equal(summary.otherHosts.requests + summary.hosts.length, 5000);
  t.ok(
    summary.hosts.every((h) => h.bytesSent >= 4950),
    'the listed hosts are the ones with the most bytes',
  );
});

t.test('host tallies handed to the journal rebuild the same totals after a restart', async (t) => {
  const tally = hostileTally(2500);
  const lines = tally.takeUnjournaledHosts();
  t.equal(lines.length, 3, 'at most 1000 hosts a line');
  t.same(tally.takeUnjournaledHosts(), [], 'handed out once');
  tally.addExchange({
    authority: 'host-1.' + 'a'.repeat(60) + '.example:443',
    request: { size: 5 } as never,
    response: { size: 0 } as never,
    failure: null,
  });
  const later = tally.takeUnjournaledHosts();
  t.equal(later.flat().length, 1, 'only the host that changed, once');
  const rebuilt = new EgressTally();
  for (const hosts of [...lines, ...later]) rebuilt.addJournaledHosts(hosts);
  t.same(rebuilt.allHosts(), tally.allHosts(), 'the full per-host list comes back from the journal');
  t.same(rebuilt.summary(), tally.summary());
});

t.test('a hostile statement is cut down to the budget, saying what it left out', async (t) => {
  for (const scale of [10, 200, 3000]) {
    const raw = hostileStatement(scale);
    const bounded = boundStatement(raw);
    const bytes = statementBytes(bounded);
    t.ok(bytes <= MAX_STATEMENT_BYTES, `scale ${scale}: ${statementBytes(raw)} bytes cut to ${bytes}`);
    const omitted = bounded.predicate.runDetails.byproducts?.find((b) => b.uri === OMITTED_URN);
    t.ok(omitted, `scale ${scale}: an omitted byproduct`);
    const a = omitted!.annotations as Record<string, number>;
    t.equal(a['subjects'], scale - bounded.subject.length, 'subjects omitted are counted');
    t.equal(
      a['resolvedDependencies'],
      scale - (bounded.predicate.buildDefinition.resolvedDependencies ?? []).length,
      'dependencies omitted are counted',
    );
    t.ok(bounded.subject.length >= 1, 'at least one subject always stays');
    t.equal(bounded.subject[0]!.name, raw.subject[0]!.name, 'subject names are kept whole');
    t.same(bounded.subject[0]!.digest, raw.subject[0]!.digest, 'and their digests');
    const tags = bounded.subject[0]!.annotations!;
    t.equal(
      (tags['tags'] as string[]).length + ((tags['tagsOmitted'] as number) ?? 0),
      100,
      'tags kept + omitted',
    );
    const egress = bounded.predicate.runDetails.byproducts![0]!.annotations!;
    const hosts = egress['hosts'] as unknown[];
    const other = egress['otherHosts'] as { count: number };
    t.equal(hosts.length + other.count, scale, 'every host is named or counted');
  }
});

t.test('a statement within the budget is left as it is', async (t) => {
  const small = hostileStatement(1, new EgressTally().summary());
  small.subject[0]!.annotations = { tags: ['v1'] };
  small.predicate.buildDefinition.resolvedDependencies = [];
  t.equal(boundStatement(small), small);
});

t.test("only the operator's own configuration can exceed the budget, and that is an error", async (t) => {
  const statement = hostileStatement(1);
  statement.predicate.buildDefinition.internalParameters = {
    policy: { intercept: ['x'.repeat(MAX_STATEMENT_BYTES)] },
  };
  t.throws(() => boundStatement(statement), StatementTooLargeError);
});
