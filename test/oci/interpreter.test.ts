import { randomBytes } from 'node:crypto';
import t from 'tap';
import { INITIAL_INTERPRETER_STATE, interpret } from '../../src/oci/interpreter.js';
import { MEDIA_TYPES } from '../../src/oci/manifest.js';
import { createOciStage } from '../../src/oci/oci-stage.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { imagesView } from '../../src/record/images-view.js';
import { build, exchange, ofType, REGISTRY, run, sha256, uploadAccepted } from './exchange-builder.js';

const REPO = 'lab/app';
const ABS = (uuid: string, state: string) =>
  `https://${REGISTRY}/v2/${REPO}/blobs/uploads/${uuid}?_state=${state}`;
const REL = (uuid: string, state: string) => `/v2/${REPO}/blobs/uploads/${uuid}?_state=${state}`;

function startUpload(stage: ReturnType<typeof createOciStage>, uuid: string, location = ABS(uuid, 's0')) {
  return run(stage, {
    method: 'POST',
    target: `/v2/${REPO}/blobs/uploads/`,
    status: 202,
    responseHeaders: uploadAccepted(location, uuid, '0-0'),
  });
}

function patch(
  stage: ReturnType<typeof createOciStage>,
  uuid: string,
  state: string,
  chunk: Buffer,
  status: number,
  range: string,
  nextLocation = ABS(uuid, `${state}+`),
) {
  return run(stage, {
    method: 'PATCH',
    target: `/v2/${REPO}/blobs/uploads/${uuid}?_state=${state}`,
    requestHeaders: { 'content-type': 'application/octet-stream' },
    requestBody: chunk,
    status,
    responseHeaders: status === 202 ? uploadAccepted(nextLocation, uuid, range) : { range },
  });
}

function commit(
  stage: ReturnType<typeof createOciStage>,
  uuid: string,
  digest: string,
  last?: Buffer,
  status = 201,
) {
  return run(stage, {
    method: 'PUT',
    target: `/v2/${REPO}/blobs/uploads/${uuid}?_state=z&digest=${encodeURIComponent(digest)}`,
    ...(last ? { requestBody: last } : {}),
    status,
    responseHeaders:
      status === 201 ? { location: `/v2/${REPO}/blobs/${digest}`, 'docker-content-digest': digest } : {},
  });
}

t.test('multi-chunk upload: the running hash continues across PATCHes (real Hash states)', async (t) => {
  const stage = createOciStage();
  const blob = randomBytes(300_000);
  const chunks = [blob.subarray(0, 100_000), blob.subarray(100_000, 250_000), blob.subarray(250_000)];
  const digest = sha256(blob);
  startUpload(stage, 'u1');
  let offset = 0;
  chunks.forEach((chunk, i) => {
    offset += chunk.length;
    t.same(patch(stage, 'u1', `s${i}`, chunk, 202, `0-${offset - 1}`), [], `chunk ${i} accepted silently`);
  });
  const session = stage.state().sessions.get(`${REGISTRY}|u1`);
  t.equal(session?.committedBytes, blob.length);
  t.ok(session?.committedHash, 'a real Hash state is kept');
  const events = commit(stage, 'u1', digest);
  t.same(
    events.map((e) => e.type),
    ['blobUploaded'],
  );
  const [uploaded] = ofType(events, 'blobUploaded');
  t.match(uploaded, {
    registry: REGISTRY,
    repository: REPO,
    digest,
    computedDigest: digest,
    verification: 'verified',
    size: blob.length,
  });
  t.equal(stage.state().sessions.size, 0, 'session closed');
});

t.test('a chunk retried after 416 or 500 is hashed once', async (t) => {
  for (const failure of [416, 500]) {
    const stage = createOciStage();
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    startUpload(stage, 'u2');
    patch(stage, 'u2', 's0', a, 202, `0-${a.length - 1}`);
    t.same(patch(stage, 'u2', 's1', b, failure, `0-${a.length - 1}`), [], `${failure}: nothing committed`);
    patch(stage, 'u2', 's1', b, 202, `0-${a.length + b.length - 1}`);
    const [uploaded] = ofType(commit(stage, 'u2', sha256(Buffer.concat([a, b]))), 'blobUploaded');
    t.equal(uploaded?.verification, 'verified', `${failure} then retry: verified`);
    t.equal(uploaded?.size, a.length + b.length);
  }
});

t.test('a chunk cut short by a reset is not committed; the retry is', async (t) => {
  const stage = createOciStage();
  const a = randomBytes(4000);
  startUpload(stage, 'u3');
  run(stage, {
    method: 'PATCH',
    target: `/v2/${REPO}/blobs/uploads/u3?_state=s0`,
    requestBody: a.subarray(0, 1000),
    requestIncomplete: true,
    status: null,
    failure: { code: 'upstream_reset', message: 'reset' },
  });
  patch(stage, 'u3', 's0', a, 202, `0-${a.length - 1}`);
  t.equal(ofType(commit(stage, 'u3', sha256(a)), 'blobUploaded')[0]?.verification, 'verified');
});

t.test('the final PUT may carry the last chunk, or the whole blob', async (t) => {
  const stage = createOciStage();
  const a = randomBytes(3000);
  const b = randomBytes(2000);
  startUpload(stage, 'u4');
  patch(stage, 'u4', 's0', a, 202, `0-${a.length - 1}`);
  const [withLast] = ofType(commit(stage, 'u4', sha256(Buffer.concat([a, b])), b), 'blobUploaded');
  t.match(withLast, { verification: 'verified', size: 5000 });

  startUpload(stage, 'u5');
  const [whole] = ofType(commit(stage, 'u5', sha256(a), a), 'blobUploaded');
  t.match(whole, { verification: 'verified', size: 3000 }, 'POST then a single PUT with the body');
});

t.test('relative and absolute Location both key the session by registry + UUID', async (t) => {
  for (const [name, location] of [
    ['absolute', ABS],
    ['relative', REL],
  ] as const) {
    const stage = createOciStage();
    const blob = randomBytes(1000);
    startUpload(stage, 'u6', location('u6', 'first'));
    t.equal(stage.state().sessions.size, 1, `${name}: session opened`);
    // _state rotates on every response; the session does not move.
    patch(stage, 'u6', 'first', blob.subarray(0, 400), 202, '0-399', location('u6', 'second'));
    patch(stage, 'u6', 'second', blob.subarray(400), 202, '0-999', location('u6', 'third'));
    t.equal(ofType(commit(stage, 'u6', sha256(blob)), 'blobUploaded')[0]?.verification, 'verified', name);
  }
});

t.test('same UUID on another port is another session (registry identity has the port)', async (t) => {
  const stage = createOciStage();
  run(stage, {
    method: 'POST',
    target: `/v2/${REPO}/blobs/uploads/`,
    status: 202,
    responseHeaders: uploadAccepted(REL('same', 'x'), 'same', '0-0'),
  });
  run(stage, {
    method: 'POST',
    authority: 'registry.test:5001',
    target: `/v2/${REPO}/blobs/uploads/`,
    status: 202,
    responseHeaders: uploadAccepted(REL('same', 'x'), 'same', '0-0'),
  });
  t.same([...stage.state().sessions.keys()].sort(), ['registry.test:5000|same', 'registry.test:5001|same']);
});

t.test('missing Location: an anomaly, then the session is adopted only if the Range proves it', async (t) => {
  const stage = createOciStage();
  const events = run(stage, {
    method: 'POST',
    target: `/v2/${REPO}/blobs/uploads/`,
    status: 202,
    responseHeaders: {},
  });
  t.match(ofType(events, 'ociAnomaly'), [{ code: 'upload_location_missing', repository: REPO }]);
  t.equal(stage.state().sessions.size, 0);

  const blob = randomBytes(800);
  const adopted = patch(stage, 'lost-1', 's', blob, 202, `0-${blob.length - 1}`);
  t.match(ofType(adopted, 'ociAnomaly'), [{ code: 'upload_session_unknown' }]);
  t.equal(
    ofType(commit(stage, 'lost-1', sha256(blob)), 'blobUploaded')[0]?.verification,
    'verified',
    'body = everything the registry holds',
  );

  const a = randomBytes(500);
  patch(stage, 'lost-2', 's', a, 202, '0-1499'); // the registry holds 1000 bytes the proxy never saw
  const [blind] = ofType(commit(stage, 'lost-2', sha256(randomBytes(10))), 'blobUploaded');
  t.match(blind, {
    verification: 'unverifiable',
    unverifiableReason: 'session_unknown',
    computedDigest: null,
  });
});

t.test('a closing PUT for a session never seen: verified only when its body alone is the blob', async (t) => {
  const stage = createOciStage();
  const blob = randomBytes(600);
  const [whole] = ofType(commit(stage, 'ghost-1', sha256(blob), blob), 'blobUploaded');
  t.equal(whole?.verification, 'verified');
  const [part] = ofType(commit(stage, 'ghost-2', sha256(randomBytes(5)), blob), 'blobUploaded');
  t.match(
    part,
    { verification: 'unverifiable', unverifiableReason: 'session_unknown' },
    'not a mismatch: bytes may precede it',
  );
});

t.test('digest mismatch on commit is recorded as such, never as a clean upload', async (t) => {
  const stage = createOciStage();
  const blob = randomBytes(2048);
  const claimed = sha256('something else');
  startUpload(stage, 'u7');
  patch(stage, 'u7', 's0', blob, 202, `0-${blob.length - 1}`);
  const events = commit(stage, 'u7', claimed);
  t.same(
    events.map((e) => e.type),
    ['blobUploaded', 'digestMismatch'],
  );
  t.match(ofType(events, 'blobUploaded')[0], {
    digest: claimed,
    computedDigest: sha256(blob),
    verification: 'mismatch',
  });
  t.match(ofType(events, 'digestMismatch')[0], {
    context: 'blob-upload',
    source: 'claimed-digest',
    expected: claimed,
    observed: sha256(blob),
  });
  const record = BuildRecord.from(events);
  t.same(record.classifyBlob(REGISTRY, REPO, claimed), {
    digest: claimed,
    disposition: 'unaccounted',
    uploadProblem: 'mismatch',
  });
});

t.test('an upload the registry refused is never recorded as uploaded', async (t) => {
  const stage = createOciStage();
  const blob = randomBytes(100);
  startUpload(stage, 'u8');
  patch(stage, 'u8', 's0', blob, 202, '0-99');
  t.same(commit(stage, 'u8', sha256(blob), undefined, 400), [], '400 DIGEST_INVALID');
  t.same(
    run(stage, {
      method: 'POST',
      target: `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`,
      requestBody: blob,
      status: 500,
    }),
    [],
    'monolithic 500',
  );
});

t.test('the hash state is lost when the proxy cannot follow the bytes', async (t) => {
  // Replayed traces have per-body digests only: a second chunk cannot be continued.
  const stage = createOciStage();
  const a = randomBytes(100);
  const b = randomBytes(100);
  startUpload(stage, 'u9');
  const plan = { captureRequestBytes: 0, captureResponseBytes: 0, continueRequestHash: null };
  for (const [chunk, range] of [
    [a, '0-99'],
    [b, '0-199'],
  ] as const) {
    stage.accept(
      build(
        {
          method: 'PATCH',
          target: `/v2/${REPO}/blobs/uploads/u9`,
          requestBody: chunk,
          status: 202,
          responseHeaders: uploadAccepted(ABS('u9', 'x'), 'u9', range),
        },
        plan,
      ),
    );
  }
  t.match(ofType(commit(stage, 'u9', sha256(Buffer.concat([a, b]))), 'blobUploaded')[0], {
    verification: 'unverifiable',
    unverifiableReason: 'hash_unavailable',
  });

  // The registry's Range disagrees with what the proxy saw accepted.
  startUpload(stage, 'u10');
  const events = patch(stage, 'u10', 's0', a, 202, '0-49');
  t.match(ofType(events, 'ociAnomaly'), [{ code: 'upload_range_disagrees' }]);
  t.equal(ofType(commit(stage, 'u10', sha256(a)), 'blobUploaded')[0]?.unverifiableReason, 'range_disagrees');

  // Upload status says the registry holds bytes the proxy did not see committed.
  startUpload(stage, 'u11');
  patch(stage, 'u11', 's0', a, 202, '0-99');
  run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/uploads/u11`,
    status: 204,
    responseHeaders: { range: '0-149' },
  });
  t.equal(ofType(commit(stage, 'u11', sha256(a)), 'blobUploaded')[0]?.verification, 'unverifiable');
});

t.test('monolithic POST ?digest= and mounts', async (t) => {
  const stage = createOciStage();
  const blob = randomBytes(700);
  const mono = run(stage, {
    method: 'POST',
    target: `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`,
    requestBody: blob,
    status: 201,
    responseHeaders: { location: `/v2/${REPO}/blobs/${sha256(blob)}` },
  });
  t.match(ofType(mono, 'blobUploaded'), [{ method: 'monolithic', verification: 'verified', size: 700 }]);

  const mounted = run(stage, {
    method: 'POST',
    target: `/v2/${REPO}/blobs/uploads/?mount=${sha256('x')}&from=lab/base`,
    status: 201,
  });
  t.match(ofType(mounted, 'blobMounted'), [{ digest: sha256('x'), from: 'lab/base', repository: REPO }]);

  const refused = run(stage, {
    method: 'POST',
    target: `/v2/${REPO}/blobs/uploads/?mount=${sha256('y')}&from=lab/base`,
    status: 202,
    responseHeaders: uploadAccepted(ABS('u12', 'a'), 'u12', '0-0'),
  });
  t.same(refused, [], 'a refused mount is no mount');
  t.ok(stage.state().sessions.has(`${REGISTRY}|u12`), 'the fallback upload session is open');
  t.equal(
    ofType(commit(stage, 'u12', sha256('y'), Buffer.from('y')), 'blobUploaded')[0]?.verification,
    'verified',
  );
});

function manifestPut(
  stage: ReturnType<typeof createOciStage>,
  ref: string,
  bytes: Buffer,
  status = 201,
  contentType: string = MEDIA_TYPES.ociManifest,
) {
  const digest = sha256(bytes);
  return run(stage, {
    method: 'PUT',
    target: `/v2/${REPO}/manifests/${ref}`,
    requestHeaders: { 'content-type': contentType },
    requestBody: bytes,
    status,
    responseHeaders:
      status === 201
        ? { location: `https://${REGISTRY}/v2/${REPO}/manifests/${digest}`, 'docker-content-digest': digest }
        : {},
  });
}

const manifest = (layer: string) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256('config'), size: 6 },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );

t.test('manifest PUT: recorded only on 2xx, digest is sha256 of the bytes sent', async (t) => {
  const stage = createOciStage();
  const bytes = manifest('layer');
  t.same(manifestPut(stage, 'v1', bytes, 500), [], '500: nothing recorded');
  t.same(manifestPut(stage, 'v1', bytes, 400), [], '400: nothing recorded');
  t.same(
    stage.accept(
      build(
        {
          method: 'PUT',
          target: `/v2/${REPO}/manifests/v1`,
          requestBody: bytes,
          status: 502,
          synthesized: true,
        },
        { captureRequestBytes: 100, captureResponseBytes: 0, continueRequestHash: null },
      ),
    ),
    [],
    'a 502 the proxy made up',
  );
  const [pushed] = ofType(manifestPut(stage, 'v1', bytes), 'manifestPushed');
  t.match(pushed, {
    registry: REGISTRY,
    repository: REPO,
    reference: { kind: 'tag', tag: 'v1' },
    digest: sha256(bytes),
    registryDigest: sha256(bytes),
    locationDigest: sha256(bytes),
    agreement: { registryDigest: true, locationDigest: true, reference: null },
    mediaType: MEDIA_TYPES.ociManifest,
    kind: 'image',
    unparsed: null,
  });
  t.equal(pushed?.manifest?.layers[0]?.digest, sha256('layer'));

  const [byDigest] = ofType(manifestPut(stage, sha256(bytes), bytes), 'manifestPushed');
  t.same(byDigest?.agreement, { registryDigest: true, locationDigest: true, reference: true });
});

t.test(
  'a push addressed with a trailing-dot host is recorded under the registry without the dot',
  async (t) => {
    const stage = createOciStage();
    const bytes = manifest('fqdn');
    const digest = sha256(bytes);
    const events = run(stage, {
      method: 'PUT',
      authority: 'registry.example.com.:443',
      target: `/v2/${REPO}/manifests/v1`,
      requestHeaders: { 'content-type': MEDIA_TYPES.ociManifest },
      requestBody: bytes,
      status: 201,
      responseHeaders: { 'docker-content-digest': digest },
    });
    const [pushed] = ofType(events, 'manifestPushed');
    t.equal(pushed?.registry, 'registry.example.com:443');
  },
);

t.test('manifest PUT: the registry digest is compared, never trusted', async (t) => {
  const stage = createOciStage();
  const bytes = manifest('l');
  const theirs = sha256('not these bytes');
  const events = run(stage, {
    method: 'PUT',
    target: `/v2/${REPO}/manifests/${theirs}`,
    requestHeaders: { 'content-type': MEDIA_TYPES.ociManifest },
    requestBody: bytes,
    status: 201,
    responseHeaders: { location: `/v2/${REPO}/manifests/${theirs}`, 'docker-content-digest': theirs },
  });
  const [pushed] = ofType(events, 'manifestPushed');
  t.equal(pushed?.digest, sha256(bytes), 'the proxy digest is the one recorded');
  t.same(pushed?.agreement, { registryDigest: false, locationDigest: false, reference: false });
  t.same(
    ofType(events, 'digestMismatch').map((m) => m.source),
    ['docker-content-digest', 'location', 'reference'],
  );
});

t.test('manifest PUT: bad bodies are recorded unparsed, never dropped', async (t) => {
  const cases: [string, Buffer, string, string][] = [
    ['malformed JSON', Buffer.from('{"schemaVersion":2,'), MEDIA_TYPES.ociManifest, 'invalid_json'],
    [
      'unknown media type',
      Buffer.from('{"schemaVersion":2}'),
      'application/vnd.example+json',
      'unknown_media_type',
    ],
  ];
  for (const [name, bytes, contentType, reason] of cases) {
    const stage = createOciStage();
    const [pushed] = ofType(manifestPut(stage, 'v1', bytes, 201, contentType), 'manifestPushed');
    t.match(pushed, { digest: sha256(bytes), manifest: null, unparsed: { reason } }, name);
  }

  const small = createOciStage({ manifestCaptureLimit: 64 });
  const big = manifest('a layer that makes this manifest longer than sixty-four bytes');
  t.equal(
    small.planner({
      scheme: 'https',
      authority: REGISTRY,
      method: 'PUT',
      target: `/v2/${REPO}/manifests/v1`,
      headers: {},
    }).captureRequestBytes,
    64,
  );
  const [over] = ofType(manifestPut(small, 'v1', big), 'manifestPushed');
  t.match(over, {
    digest: sha256(big),
    size: big.length,
    manifest: null,
    unparsed: { reason: 'over_capture_limit' },
    mediaType: MEDIA_TYPES.ociManifest,
    kind: 'image',
  });
  const view = imagesView(BuildRecord.from([over!]));
  t.match(
    view.images,
    [{ digest: sha256(big), tags: ['v1'], unparsed: { reason: 'over_capture_limit' } }],
    'still an output',
  );
});

t.test('invalid names and digests never become pushes', async (t) => {
  const stage = createOciStage();
  const bytes = manifest('x');
  for (const target of [
    '/v2/lab/../etc/manifests/v1',
    '/v2/lab/%2e%2e/etc/manifests/v1',
    '/v2/Lab/x/manifests/v1',
    '/v2/lab/x/manifests/sha256:abc',
  ]) {
    const events = run(stage, {
      method: 'PUT',
      target,
      requestHeaders: { 'content-type': MEDIA_TYPES.ociManifest },
      requestBody: bytes,
      status: 201,
    });
    t.same(
      events.map((e) => e.type),
      ['ociAnomaly', 'artifactUploaded'],
      `${target}: acknowledged but invalid → anomaly + generic upload`,
    );
    t.equal(ofType(events, 'manifestPushed').length, 0);
  }
  t.same(
    run(stage, { method: 'GET', target: '/v2/lab/x/blobs/sha256:12', status: 404 }),
    [],
    'refused: nothing',
  );
});

t.test(
  'pulls: manifest digest from the body, checked against the reference and Docker-Content-Digest',
  async (t) => {
    const stage = createOciStage();
    const bytes = manifest('pulled');
    const digest = sha256(bytes);
    const plan = stage.planner({
      scheme: 'https',
      authority: REGISTRY,
      method: 'GET',
      target: `/v2/${REPO}/manifests/v1`,
      headers: {},
    });
    t.equal(plan.captureResponseBytes, 4 * 1024 * 1024, 'manifest GET bodies captured, 4 MiB default');
    const byTag = run(stage, {
      method: 'GET',
      target: `/v2/${REPO}/manifests/v1`,
      status: 200,
      responseHeaders: { 'content-type': MEDIA_TYPES.ociManifest, 'docker-content-digest': digest },
      responseBody: bytes,
    });
    t.match(ofType(byTag, 'manifestPulled'), [
      { digest, verification: 'verified', checkedAgainst: 'docker-content-digest', kind: 'image' },
    ]);

    const wrong = sha256('other');
    const byDigest = run(stage, {
      method: 'GET',
      target: `/v2/${REPO}/manifests/${wrong}`,
      status: 200,
      responseHeaders: { 'content-type': MEDIA_TYPES.ociManifest },
      responseBody: bytes,
    });
    t.same(
      byDigest.map((e) => e.type),
      ['manifestPulled', 'digestMismatch'],
    );
    t.match(ofType(byDigest, 'manifestPulled')[0], {
      digest,
      verification: 'mismatch',
      checkedAgainst: 'reference',
    });

    const unchecked = run(stage, {
      method: 'GET',
      target: `/v2/${REPO}/manifests/v2`,
      status: 200,
      responseBody: bytes,
    });
    t.match(ofType(unchecked, 'manifestPulled'), [{ verification: 'unchecked', checkedAgainst: null }]);

    const head = run(stage, {
      method: 'HEAD',
      target: `/v2/${REPO}/manifests/v1`,
      status: 200,
      responseHeaders: { 'docker-content-digest': digest },
    });
    t.match(ofType(head, 'manifestPresent'), [{ registryDigest: digest }]);
  },
);

t.test('blob GET: the body must hash to the digest asked for, following a 307 to storage', async (t) => {
  const stage = createOciStage();
  const blob = randomBytes(4096);
  const digest = sha256(blob);
  const direct = run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/${digest}`,
    status: 200,
    responseBody: blob,
  });
  t.match(ofType(direct, 'blobPulled'), [
    { digest, computedDigest: digest, verification: 'verified', redirectedTo: null },
  ]);

  const secret = 'X-Amz-Signature=deadbeefcafe';
  const storage = `https://storage.test/bucket/docker/blobs/${digest.slice(7)}/data?X-Amz-Expires=1200&${secret}`;
  const redirect = run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/${digest}`,
    status: 307,
    responseHeaders: { location: storage },
  });
  t.same(redirect, [], 'the redirect itself is not a pull');
  t.notMatch(JSON.stringify(stage.state().redirects), /deadbeef/, 'the signed query is not kept');

  const followed = run(stage, {
    method: 'GET',
    authority: 'storage.test:443',
    target: storage.slice('https://storage.test'.length),
    status: 200,
    responseBody: blob,
  });
  t.same(
    followed.map((e) => e.type),
    ['blobPulled'],
    'the storage GET is the pull, not a generic download',
  );
  t.match(followed[0], {
    registry: REGISTRY,
    repository: REPO,
    digest,
    verification: 'verified',
    redirectedTo: 'storage.test:443',
  });

  // Storage serving other bytes than the registry promised.
  run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/${digest}`,
    status: 307,
    responseHeaders: { location: storage },
  });
  const tampered = run(stage, {
    method: 'GET',
    authority: 'storage.test:443',
    target: storage.slice('https://storage.test'.length),
    status: 200,
    responseBody: randomBytes(10),
  });
  t.same(
    tampered.map((e) => e.type),
    ['blobPulled', 'digestMismatch'],
  );
  t.equal(stage.state().redirects.length, 0, 'followed redirects are forgotten');
});

t.test('a manifest read redirected to storage is captured and parsed there', async (t) => {
  const stage = createOciStage();
  const bytes = manifest('m');
  const digest = sha256(bytes);
  run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/manifests/${digest}`,
    status: 302,
    responseHeaders: { location: 'https://cdn.test/m/1?sig=abc' },
  });
  const plan = stage.planner({
    scheme: 'https',
    authority: 'cdn.test:443',
    method: 'GET',
    target: '/m/1?sig=abc',
    headers: {},
  });
  t.ok(plan.captureResponseBytes > 0);
  const events = run(stage, {
    method: 'GET',
    authority: 'cdn.test:443',
    target: '/m/1?sig=abc',
    status: 200,
    responseBody: bytes,
  });
  t.match(ofType(events, 'manifestPulled'), [
    { digest, verification: 'verified', redirectedTo: 'cdn.test:443' },
  ]);
  t.ok(ofType(events, 'manifestPulled')[0]?.manifest, 'parsed');
});

t.test('non-OCI traffic: downloads and uploads as generic artifacts, secrets out of the URL', async (t) => {
  const stage = createOciStage();
  const body = randomBytes(1234);
  const down = run(stage, {
    method: 'GET',
    authority: 'downloads.test:443',
    target: '/go1.22.tar.gz?version=1&access_token=s3cr3t&X-Goog-Signature=abc',
    status: 200,
    responseHeaders: { 'content-type': 'application/gzip' },
    responseBody: body,
  });
  t.same(ofType(down, 'artifactDownloaded'), [
    {
      type: 'artifactDownloaded',
      url: 'https://downloads.test/go1.22.tar.gz?version=REDACTED&access_token=REDACTED&X-Goog-Signature=REDACTED',
      method: 'GET',
      status: 200,
      size: 1234,
      sha256: sha256(body),
      contentType: 'application/gzip',
      exchangeId: down[0]!.exchangeId,
      at: down[0]!.at,
    },
  ]);
  const up = run(stage, {
    method: 'PUT',
    authority: 'artifacts.test:8443',
    target: '/upload/report.json',
    requestBody: body,
    status: 201,
  });
  t.match(ofType(up, 'artifactUploaded'), [
    { url: 'https://artifacts.test:8443/upload/report.json', size: 1234, status: 201 },
  ]);
  t.same(
    run(stage, { method: 'GET', authority: 'x.test:443', target: '/', status: 404, responseBody: 'nope' }),
    [],
    'no 4xx',
  );
  t.same(
    run(stage, { method: 'GET', authority: 'x.test:443', target: '/empty', status: 204 }),
    [],
    'no empty bodies',
  );
  t.same(
    run(stage, { method: 'POST', authority: 'x.test:443', target: '/a', requestBody: 'x', status: 403 }),
    [],
    'refused upload',
  );
});

t.test('token endpoints are credentials, not artifacts', async (t) => {
  const stage = createOciStage();
  run(stage, {
    method: 'GET',
    authority: 'registry.test:5002',
    target: '/v2/',
    status: 401,
    responseHeaders: {
      'www-authenticate': 'Bearer realm="https://auth.test:5003/token",service="registry.test:5002"',
    },
  });
  t.same(
    run(stage, {
      method: 'GET',
      authority: 'auth.test:5003',
      target: '/token',
      status: 200,
      responseBody: '{"token":"x"}',
    }),
    [],
    'the challenged realm',
  );
  t.same(
    run(stage, {
      method: 'GET',
      authority: 'other-auth.test:443',
      target: '/v2/token?service=registry&scope=repository:a:pull',
      status: 200,
      responseBody: '{"token":"y"}',
    }),
    [],
    'token protocol parameters',
  );
  t.same(
    run(stage, {
      method: 'POST',
      authority: 'other-auth.test:443',
      target: '/oauth2/token',
      requestHeaders: { 'content-type': 'application/x-www-form-urlencoded' },
      requestBody: 'grant_type=password&password=x',
      status: 200,
      responseBody: '{"access_token":"z"}',
    }),
    [],
    'OAuth2 form POST',
  );
});

t.test('deletes are recorded', async (t) => {
  const stage = createOciStage();
  t.match(run(stage, { method: 'DELETE', target: `/v2/${REPO}/manifests/${sha256('m')}`, status: 202 }), [
    { type: 'manifestDeleted', reference: { kind: 'digest', digest: sha256('m') } },
  ]);
  t.match(run(stage, { method: 'DELETE', target: `/v2/${REPO}/blobs/${sha256('b')}`, status: 202 }), [
    { type: 'blobDeleted', digest: sha256('b') },
  ]);
  t.same(run(stage, { method: 'DELETE', target: `/v2/${REPO}/blobs/${sha256('b')}`, status: 405 }), []);
});

t.test('interpret is pure: the input state is never changed', async (t) => {
  const stage = createOciStage();
  startUpload(stage, 'p1');
  const before = stage.state();
  const snapshot = JSON.stringify(
    [...before.sessions.entries()].map(([k, s]) => [k, { ...s, committedHash: null }]),
  );
  const blob = randomBytes(10);
  const result = interpret(
    before,
    exchange(stage, {
      method: 'PATCH',
      target: `/v2/${REPO}/blobs/uploads/p1`,
      requestBody: blob,
      status: 202,
      responseHeaders: uploadAccepted(ABS('p1', 'n'), 'p1', '0-9'),
    }),
  );
  t.not(result.state, before);
  t.equal(
    JSON.stringify([...before.sessions.entries()].map(([k, s]) => [k, { ...s, committedHash: null }])),
    snapshot,
  );
  t.equal(result.state.sessions.get(`${REGISTRY}|p1`)?.committedBytes, 10);
  t.equal(
    interpret(INITIAL_INTERPRETER_STATE, exchange(stage, { method: 'GET', target: '/v2/', status: 200 }))
      .state,
    INITIAL_INTERPRETER_STATE,
    'no change, same object',
  );
});

t.test('abandoned sessions and redirects are forgotten', async (t) => {
  const stage = createOciStage({ sessionIdleMs: 1, redirectTtlMs: 1 });
  startUpload(stage, 'old');
  run(stage, {
    method: 'GET',
    target: `/v2/${REPO}/blobs/${sha256('z')}`,
    status: 307,
    responseHeaders: { location: 'https://s.test/z' },
  });
  run(stage, { method: 'GET', target: '/v2/', status: 200 });
  t.equal(stage.state().sessions.size, 0);
  t.equal(stage.state().redirects.length, 0);
  t.throws(() => createOciStage({ manifestCaptureLimit: -1 }), {
    code: 'ERR_INVALID_OPTION',
    option: 'manifestCaptureLimit',
  });
});
