import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { type RunningStore, startStore } from '../../src/store/start-store.js';
import { tempDir } from '../support/temp-dir.js';
import { AUTH_TOKENS, storeAuthScenarios } from './auth-scenarios.js';
import { storeScenarios } from './scenarios.js';
import { buildNote, buildOccurrence, call } from './store-client.js';
import { bearer, storeCredentials } from './store-tokens.js';

const logger = pino({ level: 'silent' });
const dir = await tempDir(t, 'store-pglite');

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

t.test('tokens, roles and projects', async (t) => {
  const secured = await startStore({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: await mkdtemp(join(dir, 'secured-')),
    credentials: await storeCredentials(dir, Object.values(AUTH_TOKENS)),
    logger,
  });
  t.teardown(() => secured.close());
  storeAuthScenarios(t, () => secured.url);
});

t.test('/healthz needs no token; the body limit holds for a valid caller', async (t) => {
  const secured = await startStore({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: await mkdtemp(join(dir, 'limited-')),
    credentials: await storeCredentials(dir, [AUTH_TOKENS.admin]),
    maxBodyBytes: 4096,
    logger,
  });
  t.teardown(() => secured.close());
  t.equal((await call(secured.url, 'GET', '/healthz')).status, 200, '/healthz needs no token');
  const big = await call(
    secured.url,
    'POST',
    '/v1/projects/auth/notes?noteId=big',
    { ...buildNote(), longDescription: 'x'.repeat(8192) },
    bearer(AUTH_TOKENS.admin.token),
  );
  t.equal(big.status, 400);
  t.match(big.json.error.message, /exceeds 4096 bytes/);
});

t.teardown(() => store.close());
