/**
 * Who may do what in the store, over HTTP, run against each database engine
 * (store-pglite.test.ts, store-postgres.test.ts) on a store started with AUTH_TOKENS.
 */
import type { Test } from 'tap';
import { buildNote, buildOccurrence, call } from './store-client.js';
import { bearer, type TestToken } from './store-tokens.js';

export const AUTH_TOKENS = {
  writerA: { name: 'sidecars-a', role: 'writer', projects: ['auth-a'], token: 'writer-a-0123456789abcdef' },
  readerA: { name: 'readers-a', role: 'reader', projects: ['auth-a'], token: 'reader-a-0123456789abcdef' },
  admin: { name: 'ops', role: 'admin', projects: ['*'], token: 'admin-all-0123456789abcdef' },
} as const satisfies Record<string, TestToken>;

const IMAGE = 'registry.test:5000/lab/auth';

export function storeAuthScenarios(t: Test, baseUrl: () => string): void {
  const as = (who: TestToken | undefined) => (method: string, path: string, body?: unknown) =>
    call(baseUrl(), method, path, body, who === undefined ? {} : bearer(who.token));
  const writer = as(AUTH_TOKENS.writerA);
  const reader = as(AUTH_TOKENS.readerA);
  const admin = as(AUTH_TOKENS.admin);
  const nobody = as(undefined);

  t.test('without a valid token, nothing is read, written or deleted (401)', async (t) => {
    const written = await writer('POST', '/v1/projects/auth-a/notes?noteId=b', buildNote());
    t.equal(written.status, 200, 'the writer creates the note');
    const occurrence = (
      await writer('POST', '/v1/projects/auth-a/occurrences', buildOccurrence('auth-a', 'b', IMAGE, 1))
    ).json;
    for (const [method, path, body] of [
      ['GET', '/v1/projects/auth-a/occurrences', undefined],
      ['POST', '/v1/projects/auth-a/occurrences', buildOccurrence('auth-a', 'b', IMAGE, 2)],
      ['POST', '/v1/projects/auth-a/notes?noteId=c', buildNote()],
      ['DELETE', `/v1/${occurrence.name}`, undefined],
    ] as const) {
      const answer = await nobody(method, path, body);
      t.equal(answer.status, 401, `${method} ${path}`);
      t.equal(answer.json.error.status, 'UNAUTHENTICATED');
      t.match(answer.headers.get('www-authenticate'), /^Bearer/);
    }
    const forged = await call(baseUrl(), 'DELETE', `/v1/${occurrence.name}`, undefined, {
      authorization: `Bearer ${AUTH_TOKENS.admin.token}x`,
    });
    t.equal(forged.status, 401, 'a token one character off');
    const basic = await call(baseUrl(), 'GET', '/v1/projects/auth-a/occurrences', undefined, {
      authorization: `Basic ${Buffer.from(`x:${AUTH_TOKENS.admin.token}`).toString('base64')}`,
    });
    t.equal(basic.status, 401, 'the token in another scheme');
    t.same((await admin('GET', `/v1/${occurrence.name}`)).json, occurrence, 'still there, unchanged');
  });

  t.test('a writer creates in its projects only and never deletes (403)', async (t) => {
    await writer('POST', '/v1/projects/auth-a/notes?noteId=w', buildNote());
    const occurrence = (
      await writer('POST', '/v1/projects/auth-a/occurrences', buildOccurrence('auth-a', 'w', IMAGE, 3))
    ).json;
    const deleted = await writer('DELETE', `/v1/${occurrence.name}`);
    t.equal(deleted.status, 403);
    t.equal(deleted.json.error.status, 'PERMISSION_DENIED');
    t.match(deleted.json.error.message, /writer "sidecars-a" may not delete in project auth-a/);
    t.notMatch(JSON.stringify(deleted.json), AUTH_TOKENS.writerA.token);
    t.equal(
      (await writer('PATCH', `/v1/${occurrence.name}`, { resourceUri: 'x' })).status,
      403,
      'nor update',
    );

    await admin('POST', '/v1/projects/auth-b/notes?noteId=w', buildNote());
    for (const [method, path, body] of [
      ['POST', '/v1/projects/auth-b/occurrences', buildOccurrence('auth-b', 'w', IMAGE, 4)],
      [
        'POST',
        '/v1/projects/auth-b/occurrences:batchCreate',
        { occurrences: [buildOccurrence('auth-b', 'w', IMAGE, 5)] },
      ],
      ['POST', '/v1/projects/auth-b/notes?noteId=x', buildNote()],
      ['GET', '/v1/projects/auth-b/occurrences', undefined],
    ] as const) {
      const answer = await writer(method, path, body);
      t.equal(answer.status, 403, `another project: ${method} ${path}`);
    }
    t.same((await admin('GET', '/v1/projects/auth-b/occurrences')).json, {}, 'nothing written to auth-b');
    const escaped = await writer(
      'POST',
      '/v1/projects/auth%2Db/occurrences',
      buildOccurrence('auth-b', 'w', IMAGE, 6),
    );
    t.equal(escaped.status, 403, 'a percent-encoded project name is the same project');
  });

  t.test('a reader reads and writes nothing', async (t) => {
    t.equal((await reader('GET', '/v1/projects/auth-a/occurrences')).status, 200);
    t.equal((await reader('POST', '/v1/projects/auth-a/notes?noteId=r', buildNote())).status, 403);
  });

  t.test('the admin deletes', async (t) => {
    await writer('POST', '/v1/projects/auth-a/notes?noteId=d', buildNote());
    const occurrence = (
      await writer('POST', '/v1/projects/auth-a/occurrences', buildOccurrence('auth-a', 'd', IMAGE, 7))
    ).json;
    t.equal((await admin('DELETE', `/v1/${occurrence.name}`)).status, 200);
    t.equal((await writer('GET', `/v1/${occurrence.name}`)).status, 404);
  });

  t.test('page tokens are opaque and a forged or altered one is refused', async (t) => {
    await writer('POST', '/v1/projects/auth-a/notes?noteId=p', buildNote());
    for (let n = 10; n < 13; n++) {
      await writer('POST', '/v1/projects/auth-a/occurrences', buildOccurrence('auth-a', 'p', IMAGE, n));
    }
    const first = await writer('GET', '/v1/projects/auth-a/occurrences?pageSize=1');
    const token: string = first.json.nextPageToken;
    t.match(token, /^[A-Za-z0-9_-]+$/);
    t.notMatch(Buffer.from(token, 'base64url').toString('latin1'), /"a"|seq/, 'no readable position inside');
    const bytes = Buffer.from(token, 'base64url');
    for (const [what, forged] of [
      ['one bit flipped', Buffer.from(bytes.map((b, i) => (i === 14 ? b ^ 1 : b))).toString('base64url')],
      ['the old readable format', Buffer.from(JSON.stringify({ a: 0, s: 'x' })).toString('base64url')],
      ['truncated', token.slice(0, -2)],
      ['random', Buffer.alloc(36, 7).toString('base64url')],
    ] as const) {
      const answer = await writer('GET', `/v1/projects/auth-a/occurrences?pageSize=1&pageToken=${forged}`);
      t.equal(answer.status, 400, what);
      t.equal(answer.json.error.status, 'INVALID_ARGUMENT', what);
    }
    const next = await writer('GET', `/v1/projects/auth-a/occurrences?pageSize=1&pageToken=${token}`);
    t.equal(next.status, 200, 'the real token still works');
    t.not(next.json.occurrences[0].name, first.json.occurrences[0].name);
  });
}
