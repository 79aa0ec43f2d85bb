import t, { type Test } from 'tap';
import { MAX_TRACKED_DESTINATIONS } from '../../src/provenance/egress-decisions.js';
import { MAX_STATEMENT_BYTES } from '../../src/provenance/statement-bounds.js';
import type { InTotoStatement } from '../../src/provenance/statement-types.js';
import { startOrigin } from '../proxy/support/origin.js';
import { connectTunnel, tlsThroughProxy } from '../support/clients.js';
import { testPki } from '../support/pki.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';
import { egressAnnotations, journalKinds, policyDecisionCount } from './support/egress-evidence.js';

async function launch(t: Test, name: string, args: string[]): Promise<RunningProxy> {
  const dir = await makeTempDir(name);
  t.teardown(() => dir.remove());
  const proxy = await startProxy({ dir: dir.path, upstreamCaPath: testPki().caPath, extraArgs: args });
  t.teardown(() => proxy.stop());
  return proxy;
}

const portOf = (proxy: RunningProxy) => Number(new URL(proxy.url).port);

t.test(
  'enforce: a refused CONNECT is journaled, counted, served, in the statement, and survives a restart',
  async (t) => {
    const origin = await startOrigin();
    t.teardown(() => origin.close());
    const proxy = await launch(t, 'egress-enforce', [
      '--egress-policy',
      'enforce',
      '--egress-allow',
      'allowed.test',
    ]);
    const refused = await connectTunnel(portOf(proxy), `127.0.0.1:${origin.port}`);
    refused.socket.destroy();
    t.equal(refused.status, 403);
    t.equal(origin.connections(), 0, 'nothing reached the origin');

    const destination = `127.0.0.1:${origin.port}`;
    const lines = await waitUntil(
      async () => {
        const found = (await journalKinds(proxy, 'egress.policy')) as Array<Record<string, unknown>>;
        return found.length > 0 ? found : false;
      },
      { what: 'the egress.policy journal line', attempts: 100, intervalMs: 100 },
    );
    t.match(lines, [
      {
        hostname: '127.0.0.1',
        port: origin.port,
        capturedBy: 'connect',
        verdict: 'refuse',
        rule: 'egress-policy=enforce',
      },
    ]);
    t.type(lines[0]!['at'], 'number');
    t.equal(await policyDecisionCount(proxy, 'refuse', 'connect'), 1, 'counted in /metrics');

    const served = JSON.parse((await proxy.control('/v1/egress/decisions')).body);
    t.match(served, { mode: 'enforce', allow: ['allowed.test'], refused: 1, flagged: 0 });
    t.match(served.destinations, [{ destination, refused: 1, flagged: 0, capturedBy: { connect: 1 } }]);
    t.equal(
      (await proxy.control('/v1/egress/decisions', { token: null })).status,
      401,
      'behind the control token',
    );

    const check = (statement: InTotoStatement) => {
      const egress = egressAnnotations(statement);
      t.ok((egress['blockedRequests'] as number) >= 1, 'blockedRequests counts the refusal');
      t.match(egress['policyDecisions'], {
        mode: 'enforce',
        refused: 1,
        destinations: [{ destination, refused: 1 }],
      });
      t.match(egress['capture'], { mode: 'explicit', egressComplete: false, ruleSetHash: null });
      t.match(statement.predicate.buildDefinition.internalParameters, {
        policy: { egressPolicy: { mode: 'enforce', allow: ['allowed.test'] } },
      });
    };
    check(await proxy.provenance());
    await proxy.restart();
    check(await proxy.provenance());
    t.match(JSON.parse((await proxy.control('/v1/egress/decisions')).body).destinations, [
      { destination, refused: 1 },
    ]);
  },
);

t.test('audit: the CONNECT goes through and is flagged everywhere', async (t) => {
  const origin = await startOrigin();
  t.teardown(() => origin.close());
  const proxy = await launch(t, 'egress-audit', [
    '--egress-policy',
    'audit',
    '--egress-allow',
    'allowed.test',
  ]);
  const response = await fetchThrough(proxy, origin.port);
  t.equal(response, 200, 'the request reached the origin and came back');
  t.equal(origin.received.length, 1);
  await waitUntil(async () => (await journalKinds(proxy, 'egress.policy')).length === 1, {
    what: 'the flag journaled',
    attempts: 100,
    intervalMs: 100,
  });
  t.equal(await policyDecisionCount(proxy, 'flag', 'connect'), 1);
  const egress = egressAnnotations(await proxy.provenance());
  t.match(egress['policyDecisions'], {
    mode: 'audit',
    flagged: 1,
    refused: 0,
    destinations: [{ flagged: 1 }],
  });
  t.equal(egress['blockedRequests'], 0, 'a flag is not a block');
});

t.test(
  'a flood of 10,000 distinct refused hosts: statement under the cap, memory bounded, nothing lost from the count',
  async (t) => {
    const proxy = await launch(t, 'egress-flood', ['--egress-policy', 'enforce']);
    const total = 10_000;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const { socket, status } = await connectTunnel(portOf(proxy), `h${i}.flood.test:443`);
        socket.destroy();
        if (status !== 403) throw new Error(`CONNECT ${i} answered ${status}`);
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    const served = await waitUntil(
      async () => {
        const body = JSON.parse((await proxy.control('/v1/egress/decisions')).body);
        return body.refused === total ? body : false;
      },
      { what: 'every refusal applied', attempts: 300, intervalMs: 200 },
    );
    t.equal(served.destinations.length, MAX_TRACKED_DESTINATIONS, 'names kept in memory are capped');
    t.equal(served.untrackedAttempts, total - MAX_TRACKED_DESTINATIONS, 'the rest still counted');
    const { body } = await proxy.control('/v1/provenance');
    t.ok(Buffer.byteLength(body) <= MAX_STATEMENT_BYTES, `statement ${Buffer.byteLength(body)} bytes`);
    const decisions = egressAnnotations(JSON.parse(body) as InTotoStatement)['policyDecisions'] as {
      refused: number;
      destinations: unknown[];
      otherDestinations: { count: number; attempts: number };
      untrackedAttempts: number;
    };
    t.equal(decisions.refused, total);
    t.ok(decisions.destinations.length <= 50, 'top-N listed');
    t.equal(
      decisions.destinations.length + decisions.otherDestinations.count + decisions.untrackedAttempts,
      total,
      'listed + omitted + untracked = every attempt (one each)',
    );
    const rss = /process_resident_memory_bytes (\d+)/.exec(await proxy.metrics())?.[1];
    t.comment(`proxy RSS after the flood: ${Math.round(Number(rss) / 2 ** 20)} MiB`);
  },
);

/** One GET through a CONNECT tunnel (the proxy intercepts it): the status code. */
async function fetchThrough(proxy: RunningProxy, port: number): Promise<number> {
  const socket = await tlsThroughProxy(portOf(proxy), '127.0.0.1', port, proxy.trust.caPem);
  socket.write(`GET /x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  let text = '';
  for await (const chunk of socket) text += chunk.toString();
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}
