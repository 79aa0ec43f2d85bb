// The upstream exchange is the unit of record (issue 8, probe 1). A client that sends a whole
// manifest PUT and then resets its connection, or a proxy killed while the registry holds the
// PUT, must never leave a stored image unsaid: the record names it as pushed (with the digest
// the registry stored) or as an explicit push_outcome_unknown anomaly.
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startLab } from '../support/lab.js';
import {
  freshManifest,
  type ManifestToPush,
  openThroughProxy,
  type PushVerdict,
  pushVerdict,
  writeManifestPut,
} from '../support/raw-push.js';

const lab = await startLab({ name: 'push-outcome', teardown: (fn) => t.teardown(fn), registries: ['open'] });
const registry = lab.registry('open');
const proxy = lab.proxy();

/** Never silence, never a push the registry does not hold, never a wrong digest. */
function assertNeverSilent(t: Test, verdict: PushVerdict, manifest: ManifestToPush): void {
  t.ok(verdict.pushed || verdict.outcomeUnknown, 'the record says what became of the manifest');
  if (verdict.pushed) {
    t.equal(verdict.storedDigest, manifest.digest, 'recorded as pushed: the registry holds that digest');
    t.ok(verdict.inStatement.subject, 'and the statement names it as a subject');
  }
  if (verdict.storedDigest !== null) {
    t.equal(verdict.storedDigest, manifest.digest, 'the registry stored the bytes the proxy hashed');
    t.ok(verdict.pushed || verdict.inStatement.anomaly, 'what the registry holds is in the statement');
  }
  if (verdict.outcomeUnknown) t.ok(verdict.inStatement.anomaly, 'the statement carries the anomaly');
}

t.test('RST right after the last body byte: the registry answer is still recorded', async (t) => {
  const manifest = await freshManifest(registry, 'outcome/rst-now');
  const session = await openThroughProxy(proxy, registry.host);
  await writeManifestPut(session, registry.host, manifest);
  session.raw.resetAndDestroy();
  const verdict = await pushVerdict(proxy, registry, manifest);
  assertNeverSilent(t, verdict, manifest);
  t.ok(verdict.pushed, 'the proxy waited for the registry after the client left, and recorded its 201');
});

t.test('RST 1 ms after the last body byte', async (t) => {
  const manifest = await freshManifest(registry, 'outcome/rst-1ms');
  const session = await openThroughProxy(proxy, registry.host);
  await writeManifestPut(session, registry.host, manifest);
  // The scenario, not a synchronisation: the client hangs up 1 ms later.
  await delay(1);
  session.raw.resetAndDestroy();
  const verdict = await pushVerdict(proxy, registry, manifest);
  assertNeverSilent(t, verdict, manifest);
  t.ok(verdict.pushed);
});

t.test('proxy kill -9 while the registry holds the PUT: outcome unknown after restart', async (t) => {
  const fault = await startFaultProxy(registry, lab.ca);
  t.teardown(() => fault.close());
  fault.addRule({
    name: 'hold-manifest-answer',
    method: 'PUT',
    path: /^\/v2\/outcome\/killed\/manifests\//,
    action: { kind: 'hold-response' },
  });
  const manifest = await freshManifest(registry, 'outcome/killed');
  const session = await openThroughProxy(proxy, fault.host);
  await writeManifestPut(session, fault.host, manifest);
  // The registry has stored and answered; its answer is held before it reaches the proxy.
  await fault.fired('hold-manifest-answer');
  await proxy.kill('SIGKILL');
  session.tls.destroy();
  fault.releaseStalls();
  await proxy.restart();
  const verdict = await pushVerdict(proxy, registry, manifest);
  assertNeverSilent(t, verdict, manifest);
  t.equal(verdict.storedDigest, manifest.digest, 'the registry holds the manifest');
  t.notOk(verdict.pushed, 'the proxy never saw the answer: not recorded as a push');
  t.ok(verdict.outcomeUnknown, 'but as an explicit push_outcome_unknown');
  t.match(verdict.unknownDetail, /proxy stopped/);
  const { entries } = JSON.parse((await proxy.control('/v1/observations?limit=1000')).body) as {
    entries: { kind: string; data: { digest?: string; exchangeId: string } }[];
  };
  const attempt = entries.find((e) => e.kind === 'push.attempt' && e.data.digest === manifest.digest);
  t.ok(attempt, 'the write-ahead attempt is in the journal');
  t.ok(
    entries.some((e) => e.kind === 'push.settled' && e.data.exchangeId === attempt?.data.exchangeId),
    'and the restart settled it, so the next start does not report it again',
  );
  await proxy.restart();
  const { body } = await proxy.control('/v1/images');
  const unknowns = (JSON.parse(body) as { pushOutcomesUnknown: { digest: string }[] }).pushOutcomesUnknown;
  t.equal(
    unknowns.filter((u) => u.digest === manifest.digest).length,
    1,
    'one more restart: still exactly one anomaly for it',
  );
});
