/**
 * The store's behaviour over HTTP, as one list of scenarios run against each database engine
 * (store-pglite.test.ts, store-postgres.test.ts). Each scenario uses its own project.
 */
import type { Test } from 'tap';
import { buildNote, buildOccurrence, call, SHA } from './store-client.js';

const IMAGE = 'registry.test:5000/lab/app';

export function storeScenarios(t: Test, baseUrl: () => string): void {
  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    call(baseUrl(), method, path, body, headers);

  t.test('notes: create once, then ALREADY_EXISTS; get answers the stored note', async (t) => {
    const created = await api('POST', '/v1/projects/notes-1/notes?noteId=builder-a', {
      ...buildNote(),
      name: 'projects/elsewhere/notes/ignored',
      createTime: '2000-01-01T00:00:00Z',
    });
    t.equal(created.status, 200);
    t.equal(
      created.json.name,
      'projects/notes-1/notes/builder-a',
      'the server names the note; a client name is ignored',
    );
    t.not(created.json.createTime, '2000-01-01T00:00:00Z', 'createTime is output only');
    t.match(created.json.createTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    t.same(created.json.build, { builderVersion: 'provenance-proxy=0.1.0' });

    const again = await api('POST', '/v1/projects/notes-1/notes?noteId=builder-a', buildNote('other'));
    t.equal(again.status, 409);
    t.same(again.json.error.status, 'ALREADY_EXISTS');
    t.equal(again.json.error.code, 409);

    const got = await api('GET', '/v1/projects/notes-1/notes/builder-a');
    t.equal(got.status, 200);
    t.same(got.json, created.json, 'the first note stays as it was');

    const missing = await api('GET', '/v1/projects/notes-1/notes/nope');
    t.equal(missing.status, 404);
    t.equal(missing.json.error.status, 'NOT_FOUND');
  });

  t.test('notes: the v1 rules are enforced', async (t) => {
    const cases: [string, string, unknown, number, string, RegExp][] = [
      ['no noteId', '/v1/projects/notes-2/notes', buildNote(), 400, 'INVALID_ARGUMENT', /noteId is required/],
      [
        'bad noteId',
        '/v1/projects/notes-2/notes?noteId=-x',
        buildNote(),
        400,
        'INVALID_ARGUMENT',
        /noteId "-x"/,
      ],
      [
        'no kind',
        '/v1/projects/notes-2/notes?noteId=a',
        { build: { builderVersion: '1' } },
        400,
        'INVALID_ARGUMENT',
        /note\.kind is required/,
      ],
      [
        'no build',
        '/v1/projects/notes-2/notes?noteId=a',
        { kind: 'BUILD' },
        400,
        'INVALID_ARGUMENT',
        /note\.build is required/,
      ],
      [
        'no builderVersion',
        '/v1/projects/notes-2/notes?noteId=a',
        { kind: 'BUILD', build: {} },
        400,
        'INVALID_ARGUMENT',
        /builderVersion is required/,
      ],
      [
        'unknown field',
        '/v1/projects/notes-2/notes?noteId=a',
        { ...buildNote(), colour: 'red' },
        400,
        'INVALID_ARGUMENT',
        /Unknown name "colour" at 'note'/,
      ],
      [
        'wrong type',
        '/v1/projects/notes-2/notes?noteId=a',
        { ...buildNote(), relatedNoteNames: 'x' },
        400,
        'INVALID_ARGUMENT',
        /relatedNoteNames: expected a JSON array/,
      ],
      [
        'bad enum',
        '/v1/projects/notes-2/notes?noteId=a',
        { ...buildNote(), kind: 'BILD' },
        400,
        'INVALID_ARGUMENT',
        /invalid value "BILD"/,
      ],
      [
        'other kinds',
        '/v1/projects/notes-2/notes?noteId=a',
        { kind: 'VULNERABILITY', vulnerability: {} },
        501,
        'UNIMPLEMENTED',
        /note\.vulnerability is not supported/,
      ],
      [
        'two of a oneof',
        '/v1/projects/notes-2/notes?noteId=a',
        { ...buildNote(), image: {} },
        501,
        'UNIMPLEMENTED',
        /note\.image/,
      ],
      [
        'not JSON',
        '/v1/projects/notes-2/notes?noteId=a',
        '{"kind":',
        400,
        'INVALID_ARGUMENT',
        /Invalid JSON payload/,
      ],
      ['empty body', '/v1/projects/notes-2/notes?noteId=a', '', 400, 'INVALID_ARGUMENT', /body is empty/],
      [
        'bad project',
        '/v1/projects/-p/notes?noteId=a',
        buildNote(),
        400,
        'INVALID_ARGUMENT',
        /project id "-p"/,
      ],
      [
        'unknown query',
        '/v1/projects/notes-2/notes?noteId=a&colour=red',
        buildNote(),
        400,
        'INVALID_ARGUMENT',
        /unknown query parameter "colour"/,
      ],
    ];
    for (const [name, path, body, status, code, message] of cases) {
      const answer = await api('POST', path, body);
      t.equal(answer.status, status, `${name}: HTTP status`);
      t.equal(answer.json?.error?.status, code, `${name}: status name`);
      t.equal(answer.json?.error?.code, status, `${name}: code in the body`);
      t.match(answer.json?.error?.message, message, `${name}: message`);
    }
    const list = await api('GET', '/v1/projects/notes-2/notes');
    t.same(list.json, {}, 'no request above stored anything');
  });

  t.test('notes: proto field names are accepted, JSON names answered', async (t) => {
    const created = await api('POST', '/v1/projects/notes-3/notes?note_id=snake', {
      kind: 'BUILD',
      short_description: 'snake case',
      build: { builder_version: '2' },
    });
    t.equal(created.status, 200);
    t.equal(created.json.shortDescription, 'snake case');
    t.same(created.json.build, { builderVersion: '2' });
    const both = await api('POST', '/v1/projects/notes-3/notes?noteId=dup', {
      ...buildNote(),
      shortDescription: 'a',
      short_description: 'b',
    });
    t.equal(both.status, 400);
    t.match(both.json.error.message, /given twice/);
  });

  t.test('notes:batchCreate is all or nothing', async (t) => {
    const ok = await api('POST', '/v1/projects/notes-4/notes:batchCreate', {
      notes: { one: buildNote('1'), two: buildNote('2') },
    });
    t.equal(ok.status, 200);
    t.same(ok.json.notes.map((n: { name: string }) => n.name).sort(), [
      'projects/notes-4/notes/one',
      'projects/notes-4/notes/two',
    ]);
    const clash = await api('POST', '/v1/projects/notes-4/notes:batchCreate', {
      notes: { three: buildNote('3'), two: buildNote('2') },
    });
    t.equal(clash.status, 409);
    t.match(clash.json.error.message, /projects\/notes-4\/notes\/two/);
    t.equal(
      (await api('GET', '/v1/projects/notes-4/notes/three')).status,
      404,
      'nothing of the failed batch stored',
    );
    const parent = await api('POST', '/v1/projects/notes-4/notes:batchCreate', {
      parent: 'projects/other',
      notes: { four: buildNote() },
    });
    t.equal(parent.status, 400);
    t.match(parent.json.error.message, /parent/);
    const list = await api('GET', '/v1/projects/notes-4/notes');
    t.equal(list.json.notes.length, 2);
  });

  t.test('occurrences: create, get, and the note it points at', async (t) => {
    await api('POST', '/v1/projects/occ-1/notes?noteId=b', buildNote());
    const body = buildOccurrence('occ-1', 'b', IMAGE, 1);
    const created = await api('POST', '/v1/projects/occ-1/occurrences', body);
    t.equal(created.status, 200);
    t.match(created.json.name, /^projects\/occ-1\/occurrences\/[0-9a-f-]{36}$/);
    t.equal(created.json.resourceUri, body.resourceUri);
    t.same(created.json.envelope, body.envelope, 'envelope bytes kept exactly');
    t.same(created.json.build, body.build);
    t.equal(created.json.createTime, created.json.updateTime);

    const got = await api('GET', `/v1/${created.json.name}`);
    t.same(got.json, created.json);
    const note = await api('GET', `/v1/${created.json.name}/notes`);
    t.equal(note.json.name, 'projects/occ-1/notes/b');
    const byNote = await api('GET', '/v1/projects/occ-1/notes/b/occurrences');
    t.same(
      byNote.json.occurrences.map((o: { name: string }) => o.name),
      [created.json.name],
    );
  });

  t.test('occurrences: required fields and the matching details are enforced', async (t) => {
    await api('POST', '/v1/projects/occ-2/notes?noteId=b', buildNote());
    const good = buildOccurrence('occ-2', 'b', IMAGE, 2);
    const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));
    const cases: [string, unknown, number, RegExp][] = [
      ['no resourceUri', without('resourceUri'), 400, /occurrence\.resourceUri is required/],
      ['no noteName', without('noteName'), 400, /occurrence\.noteName is required/],
      ['bad noteName', { ...good, noteName: 'notes/b' }, 400, /noteName must be projects/],
      ['no kind', without('kind'), 400, /occurrence\.kind is required/],
      ['no details', without('build'), 400, /occurrence\.build is required/],
      ['empty build', { ...good, build: {} }, 400, /needs inTotoSlsaProvenanceV1/],
      [
        'unknown note',
        { ...good, noteName: 'projects/occ-2/notes/nope' },
        404,
        /note projects\/occ-2\/notes\/nope not found/,
      ],
      [
        'bad base64',
        { ...good, envelope: { ...(good.envelope as object), payload: 'not base64!' } },
        400,
        /envelope\.payload: not valid base64/,
      ],
      ['no payloadType', { ...good, envelope: { payload: 'AAAA' } }, 400, /payloadType is required/],
      [
        'nested unknown',
        { ...good, build: { inTotoSlsaProvenanceV1: { _type: 'x', extra: 1 } } },
        400,
        /Unknown name "extra" at 'occurrence\.build\.inTotoSlsaProvenanceV1'/,
      ],
      [
        'bad timestamp',
        {
          ...good,
          build: {
            inTotoSlsaProvenanceV1: { predicate: { runDetails: { metadata: { startedOn: 'yesterday' } } } },
          },
        },
        400,
        /startedOn: expected an RFC 3339 timestamp/,
      ],
      [
        'subject with annotations',
        { ...good, build: { inTotoSlsaProvenanceV1: { subject: [{ name: 'a', annotations: {} }] } } },
        400,
        /Unknown name "annotations"/,
      ],
      [
        'vulnerability',
        { ...without('build'), kind: 'VULNERABILITY', vulnerability: {} },
        501,
        /not supported/,
      ],
      [
        'intotoStatement',
        { ...good, build: { intotoStatement: {} } },
        501,
        /build\.intotoStatement is not supported/,
      ],
    ];
    for (const [name, body, status, message] of cases) {
      const answer = await api('POST', '/v1/projects/occ-2/occurrences', body);
      t.equal(answer.status, status, `${name}: status`);
      t.match(answer.json?.error?.message, message, `${name}: message`);
    }
    t.same((await api('GET', '/v1/projects/occ-2/occurrences')).json, {}, 'nothing stored');
  });

  t.test('occurrences: proto3 JSON forms are normalised', async (t) => {
    await api('POST', '/v1/projects/occ-3/notes?noteId=b', buildNote());
    const created = await api('POST', '/v1/projects/occ-3/occurrences', {
      resource_uri: `https://${IMAGE}@sha256:${SHA(3)}`,
      note_name: 'projects/occ-3/notes/b',
      kind: 2,
      remediation: null,
      build: {
        in_toto_slsa_provenance_v1: {
          type: 'https://in-toto.io/Statement/v1',
          predicate: { run_details: { metadata: { started_on: '2026-01-02T04:04:05.500+01:00' } } },
        },
      },
      envelope: { payload: '-_8', payload_type: 't', signatures: [{ sig: '_w', keyid: '' }] },
    });
    t.equal(created.status, 200);
    t.equal(created.json.kind, 'BUILD', 'enum numbers become names');
    t.equal(
      created.json.build.inTotoSlsaProvenanceV1._type,
      'https://in-toto.io/Statement/v1',
      '_type is the JSON name',
    );
    t.equal(
      created.json.build.inTotoSlsaProvenanceV1.predicate.runDetails.metadata.startedOn,
      '2026-01-02T03:04:05.500Z',
      'timestamps in UTC',
    );
    t.same(
      created.json.envelope,
      { payload: '+/8=', payloadType: 't', signatures: [{ sig: '/w==' }] },
      'standard base64, defaults dropped',
    );
    t.notOk('remediation' in created.json, 'null is "not set"');
  });

  t.test('occurrences:batchCreate writes all or none', async (t) => {
    await api('POST', '/v1/projects/occ-4/notes?noteId=b', buildNote());
    const batch = [1, 2, 3].map((n) => buildOccurrence('occ-4', 'b', IMAGE, 40 + n));
    const ok = await api('POST', '/v1/projects/occ-4/occurrences:batchCreate', { occurrences: batch });
    t.equal(ok.status, 200);
    t.equal(ok.json.occurrences.length, 3);
    t.equal(new Set(ok.json.occurrences.map((o: { name: string }) => o.name)).size, 3, 'distinct names');
    const bad = await api('POST', '/v1/projects/occ-4/occurrences:batchCreate', {
      occurrences: [
        buildOccurrence('occ-4', 'b', IMAGE, 50),
        { ...buildOccurrence('occ-4', 'b', IMAGE, 51), kind: undefined },
      ],
    });
    t.equal(bad.status, 400);
    t.match(bad.json.error.message, /occurrences\[1\]\.kind is required/);
    const empty = await api('POST', '/v1/projects/occ-4/occurrences:batchCreate', { occurrences: [] });
    t.equal(empty.status, 400);
    const all = await api('GET', '/v1/projects/occ-4/occurrences?pageSize=100');
    t.equal(all.json.occurrences.length, 3, 'the failed batch left nothing');
  });

  t.test('occurrences: list filters on resourceUrl, kind and noteName, joined by AND', async (t) => {
    await api('POST', '/v1/projects/list-1/notes:batchCreate', { notes: { a: buildNote(), b: buildNote() } });
    const a1 = (
      await api('POST', '/v1/projects/list-1/occurrences', buildOccurrence('list-1', 'a', IMAGE, 1))
    ).json;
    const b1 = (
      await api('POST', '/v1/projects/list-1/occurrences', buildOccurrence('list-1', 'b', IMAGE, 1))
    ).json;
    const a2 = (
      await api('POST', '/v1/projects/list-1/occurrences', buildOccurrence('list-1', 'a', IMAGE, 2))
    ).json;
    const names = async (filter: string) => {
      const answer = await api('GET', `/v1/projects/list-1/occurrences?filter=${encodeURIComponent(filter)}`);
      t.equal(answer.status, 200, filter);
      return (answer.json.occurrences ?? []).map((o: { name: string }) => o.name);
    };
    t.same(await names(`resourceUrl="${a1.resourceUri}"`), [a1.name, b1.name]);
    t.same(await names(`resourceUrl="${a1.resourceUri}" AND noteName="projects/list-1/notes/a"`), [a1.name]);
    t.same(await names('noteName="projects/list-1/notes/a" AND kind="BUILD"'), [a1.name, a2.name]);
    t.same(await names('kind=BUILD'), [a1.name, b1.name, a2.name], 'bare words');
    t.same(await names('kind="VULNERABILITY"'), []);
    t.same(
      await names(`resourceUrl="${a1.resourceUri}" AND resourceUrl="${a2.resourceUri}"`),
      [],
      'AND, not OR',
    );
    t.same(await names(''), [a1.name, b1.name, a2.name]);
    const other = await api(
      'GET',
      `/v1/projects/list-2/occurrences?filter=${encodeURIComponent(`resourceUrl="${a1.resourceUri}"`)}`,
    );
    t.same(other.json, {}, 'occurrences belong to their project');

    for (const [filter, message] of [
      ['resource_url="x"', /unsupported field "resource_url"; supported fields: resourceUrl, kind, noteName/],
      ['kind="BUILD" OR kind="IMAGE"', /expected AND between terms/],
      ['kind!="BUILD"', /expected "="/],
      ['resourceUrl="unterminated', /closing quote/],
      ['kind="NOPE"', /not a NoteKind/],
    ] as const) {
      const answer = await api('GET', `/v1/projects/list-1/occurrences?filter=${encodeURIComponent(filter)}`);
      t.equal(answer.status, 400, filter);
      t.match(answer.json.error.message, message, filter);
    }
  });

  t.test('occurrences: pages follow each other with tokens bound to their list', async (t) => {
    await api('POST', '/v1/projects/page-1/notes?noteId=b', buildNote());
    const created: string[] = [];
    for (let n = 1; n <= 5; n++) {
      created.push(
        (await api('POST', '/v1/projects/page-1/occurrences', buildOccurrence('page-1', 'b', IMAGE, n))).json
          .name,
      );
    }
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const answer = await api(
        'GET',
        `/v1/projects/page-1/occurrences?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`,
      );
      t.equal(answer.status, 200);
      t.ok(answer.json.occurrences.length <= 2);
      seen.push(...answer.json.occurrences.map((o: { name: string }) => o.name));
      token = answer.json.nextPageToken;
      pages += 1;
    } while (token);
    t.equal(pages, 3);
    t.same(seen, created, 'every occurrence once, in creation order');

    const first = await api('GET', '/v1/projects/page-1/occurrences?page_size=2');
    const replay = await api(
      'GET',
      `/v1/projects/page-1/occurrences?pageSize=2&filter=kind%3DBUILD&pageToken=${first.json.nextPageToken}`,
    );
    t.equal(replay.status, 400);
    t.match(replay.json.error.message, /different list request/);
    t.equal((await api('GET', '/v1/projects/page-1/occurrences?pageToken=garbage')).status, 400);
    t.equal((await api('GET', '/v1/projects/page-1/occurrences?pageSize=-1')).status, 400);
    t.equal((await api('GET', '/v1/projects/page-1/occurrences?pageSize=many')).status, 400);
  });

  t.test('occurrences: delete hides them; nothing can be updated', async (t) => {
    await api('POST', '/v1/projects/del-1/notes?noteId=b', buildNote());
    const created = (
      await api('POST', '/v1/projects/del-1/occurrences', buildOccurrence('del-1', 'b', IMAGE, 9))
    ).json;
    const patched = await api('PATCH', `/v1/${created.name}`, { remediation: 'rewrite history' });
    t.equal(patched.status, 501);
    t.equal(patched.json.error.status, 'UNIMPLEMENTED');
    t.match(patched.json.error.message, /cannot be changed/);
    t.equal((await api('PATCH', '/v1/projects/del-1/notes/b', { shortDescription: 'x' })).status, 501);
    t.equal((await api('DELETE', '/v1/projects/del-1/notes/b')).status, 501);
    t.same((await api('GET', `/v1/${created.name}`)).json, created, 'unchanged');

    const deleted = await api('DELETE', `/v1/${created.name}`);
    t.equal(deleted.status, 200);
    t.same(deleted.json, {});
    t.equal((await api('GET', `/v1/${created.name}`)).status, 404);
    t.same((await api('GET', '/v1/projects/del-1/occurrences')).json, {});
    t.equal((await api('DELETE', `/v1/${created.name}`)).status, 404, 'a second delete finds nothing');
    t.equal((await api('DELETE', '/v1/projects/del-1/occurrences/not-there')).status, 404);
  });

  t.test('routes outside the subset answer Grafeas-style errors', async (t) => {
    const unknown = await api('GET', '/v1/projects/x/things');
    t.equal(unknown.status, 404);
    t.equal(unknown.json.error.status, 'NOT_FOUND');
    const method = await api('PUT', '/v1/projects/x/occurrences', {});
    t.equal(method.status, 404);
    t.match(method.json.error.message, /PUT is not defined/);
    const summary = await api('GET', '/v1/projects/x/occurrences:vulnerabilitySummary');
    t.equal(summary.status, 501);
    const health = await api('GET', '/healthz');
    t.same(health.json, { status: 'ok' });
  });
}
