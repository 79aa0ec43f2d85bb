// How the interpreter reads a manifest PUT whose answer it cannot trust (issue 8): a body that
// went upstream whole with no answer, or an answer that broke off, is push_outcome_unknown,
// never a push and never nothing; a registry answer that came after the client left is a push.
import t from 'tap';
import { MEDIA_TYPES } from '../../src/oci/manifest.js';
import { createOciStage } from '../../src/oci/oci-stage.js';
import {
  outcomeUnknownAfterRestart,
  type PushAttempt,
  UnsettledAttempts,
} from '../../src/oci/push-attempts.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { imagesView } from '../../src/record/images-view.js';
import { type ExchangeSpec, ofType, REGISTRY, run, sha256 } from './exchange-builder.js';

const REPO = 'lab/outcome';
const BODY = JSON.stringify({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('c'), size: 1 },
  layers: [],
});
const DIGEST = sha256(BODY);

function put(overrides: Partial<ExchangeSpec>): ExchangeSpec {
  return {
    method: 'PUT',
    target: `/v2/${REPO}/manifests/v1`,
    requestHeaders: { 'content-type': MEDIA_TYPES.ociManifest },
    requestBody: BODY,
    status: 201,
    responseHeaders: { 'docker-content-digest': DIGEST },
    ...overrides,
  };
}

const UPSTREAM_GONE = { code: 'upstream_reset', message: 'reset' };

t.test('sent whole, no answer: push_outcome_unknown with digest, repository and reference', async (t) => {
  const events = run(createOciStage(), put({ status: null, failure: UPSTREAM_GONE, requestRelayed: true }));
  t.equal(ofType(events, 'manifestPushed').length, 0, 'never a push');
  const [unknown] = ofType(events, 'ociAnomaly');
  t.match(unknown, {
    code: 'push_outcome_unknown',
    registry: REGISTRY,
    repository: REPO,
    digest: DIGEST,
    reference: { kind: 'tag', tag: 'v1' },
  });
  t.match(unknown?.detail, /no answer \(upstream_reset\)/);
});

t.test('a 502 the proxy made up after the body went upstream whole is no answer either', async (t) => {
  const events = run(
    createOciStage(),
    put({ status: 502, synthesized: true, failure: UPSTREAM_GONE, requestRelayed: true }),
  );
  t.same(
    ofType(events, 'ociAnomaly').map((e) => e.code),
    ['push_outcome_unknown'],
  );
});

t.test('nothing went upstream whole: nothing to say', async (t) => {
  const stage = createOciStage();
  t.same(run(stage, put({ status: null, requestRelayed: false })), [], 'not relayed (refused connection)');
  t.same(
    run(stage, put({ status: null, requestRelayed: false, requestIncomplete: true })),
    [],
    'the client cut its own body',
  );
  t.same(
    run(stage, { method: 'PUT', target: '/some/file', requestBody: 'x', status: null, requestRelayed: true }),
    [],
    'not a manifest',
  );
});

t.test('a 201 that broke off (malformed chunk, reset) is not trusted', async (t) => {
  const events = run(createOciStage(), put({ failure: { code: 'upstream_protocol', message: 'HPE' } }));
  t.equal(ofType(events, 'manifestPushed').length, 0);
  t.match(ofType(events, 'ociAnomaly')[0], { code: 'push_outcome_unknown', digest: DIGEST });
  t.match(ofType(events, 'ociAnomaly')[0]?.detail, /a 201 that broke off \(upstream_protocol\)/);
});

t.test('the registry answered after the client left: that is a push', async (t) => {
  const events = run(
    createOciStage(),
    put({ clientLeft: true, failure: { code: 'client_aborted', message: 'gone' } }),
  );
  t.match(ofType(events, 'manifestPushed')[0], { digest: DIGEST, status: 201 });
  t.equal(ofType(events, 'ociAnomaly').length, 0);
});

t.test('/v1/images lists unknown outcomes, and says when a later push confirmed one', async (t) => {
  const stage = createOciStage();
  const unknown = run(stage, put({ status: null, failure: UPSTREAM_GONE, requestRelayed: true }));
  const before = imagesView(BuildRecord.from(unknown));
  t.equal(before.images.length, 0);
  t.match(before.pushOutcomesUnknown, [{ digest: DIGEST, tag: 'v1', recorded: false }]);
  const retried = run(stage, put({}));
  const after = imagesView(BuildRecord.from([...unknown, ...retried]));
  t.equal(after.images.length, 1);
  t.match(after.pushOutcomesUnknown, [{ digest: DIGEST, recorded: true }]);
});

t.test('the attempt ledger: what no outcome settled becomes an anomaly at the next start', async (t) => {
  const attempt = (exchangeId: string): PushAttempt => ({
    exchangeId,
    registry: REGISTRY,
    repository: REPO,
    reference: { kind: 'tag', tag: 'v1' },
    digest: DIGEST,
    size: BODY.length,
  });
  const ledger = new UnsettledAttempts();
  ledger.attempted(attempt('c1-1'));
  ledger.attempted(attempt('c1-2'));
  ledger.attempted(attempt('c2-3'));
  ledger.settled('c1-1'); // a push.settled line
  ledger.settled('c2-3'); // an observation of that exchange (crash before push.settled)
  t.same(
    ledger.list.map((a) => a.exchangeId),
    ['c1-2'],
  );
  const event = outcomeUnknownAfterRestart(attempt('c1-2'), 42);
  t.match(event, {
    type: 'ociAnomaly',
    code: 'push_outcome_unknown',
    digest: DIGEST,
    repository: REPO,
    exchangeId: 'c1-2',
    at: 42,
  });
  t.same(JSON.parse(JSON.stringify(event)), event, 'plain JSON, as journaled');
});

t.test('with a recorder, the planner holds a manifest PUT until its attempt is recorded', async (t) => {
  const recorded: PushAttempt[] = [];
  const stage = createOciStage({}, undefined, async (a) => {
    recorded.push(a);
  });
  const head = { scheme: 'https' as const, authority: REGISTRY, headers: {} };
  const plan = stage.planner({ ...head, method: 'PUT', target: `/v2/${REPO}/manifests/v1` });
  t.type(plan.beforeRequestEnd, 'function');
  const body = { size: 3, sha256: sha256('abc'), complete: true, captured: null, captureOverflow: false };
  await plan.beforeRequestEnd?.({ ...body, continuedHash: null }, 'c9-9');
  t.same(recorded, [
    {
      exchangeId: 'c9-9',
      registry: REGISTRY,
      repository: REPO,
      reference: { kind: 'tag', tag: 'v1' },
      digest: sha256('abc'),
      size: 3,
    },
  ]);
  const blob = stage.planner({ ...head, method: 'GET', target: `/v2/${REPO}/blobs/${sha256('x')}` });
  t.equal(blob.beforeRequestEnd, undefined, 'nothing else waits');
  t.equal(
    createOciStage().planner({ ...head, method: 'PUT', target: `/v2/${REPO}/manifests/v1` }).beforeRequestEnd,
    undefined,
    'no recorder, no wait',
  );
});
