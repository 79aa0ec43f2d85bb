import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { type RunningStore, startStore } from '../../src/store/start-store.js';
import { storeScenarios } from './scenarios.js';
import { buildNote, buildOccurrence, call } from './store-client.js';

const logger = pino({ level: 'silent' });
const dir = await mkdtemp(join(tmpdir(), 'pp-store-pglite-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

let store: RunningStore = await startStore({ listen: { host: '127.0.0.1', port: 0 }, dataDir: dir, logger });
t.equal(store.engine, 'pglite');

t.test('the Grafeas v1 subset on embedded PGlite', async (t) => {
  storeScenarios(t, () => store.url);
});

t.test('what was stored survives a restart on the same data directory', async (t) => {
  const note = await call(store.url, 'POST', '/v1/projects/restart/notes?noteId=b', buildNote());
  const occurrence = await call(
    store.url,
    'POST',
    '/v1/projects/restart/occurrences',
    buildOccurrence('restart', 'b', 'registry.test/app', 7),
  );
  t.equal(occurrence.status, 200);
  await store.close();
  store = await startStore({ listen: { host: '127.0.0.1', port: 0 }, dataDir: dir, logger });
  t.same((await call(store.url, 'GET', `/v1/${occurrence.json.name}`)).json, occurrence.json);
  t.same((await call(store.url, 'GET', '/v1/projects/restart/notes/b')).json, note.json);
});

t.test('bearer token and body limit', async (t) => {
  const secured = await startStore({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: await mkdtemp(join(dir, 'secured-')),
    token: 'correct-horse-battery-staple',
    maxBodyBytes: 4096,
    logger,
  });
  t.teardown(() => secured.close());
  const path = '/v1/projects/auth/notes';
  const none = await call(secured.url, 'GET', path);
  t.equal(none.status, 401);
  t.equal(none.json.error.status, 'UNAUTHENTICATED');
  t.match(none.headers.get('www-authenticate'), /^Bearer/);
  const wrong = await call(secured.url, 'GET', path, undefined, {
    authorization: 'Bearer correct-horse-battery-stapler',
  });
  t.equal(wrong.status, 401);
  const basic = await call(secured.url, 'GET', path, undefined, { authorization: 'Basic Y29ycmVjdA==' });
  t.equal(basic.status, 401);
  const right = await call(secured.url, 'GET', path, undefined, {
    authorization: 'Bearer correct-horse-battery-staple',
  });
  t.equal(right.status, 200);
  t.equal((await call(secured.url, 'GET', '/healthz')).status, 200, '/healthz needs no token');

  const big = await call(
    secured.url,
    'POST',
    `${path}?noteId=big`,
    { ...buildNote(), longDescription: 'x'.repeat(8192) },
    { authorization: 'Bearer correct-horse-battery-staple' },
  );
  t.equal(big.status, 400);
  t.match(big.json.error.message, /exceeds 4096 bytes/);
});

t.teardown(() => store.close());
