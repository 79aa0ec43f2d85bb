import pg from 'pg';
import pino from 'pino';
import t from 'tap';
import { GrafeasClient } from '../../src/grafeas/client.js';
import { formatFilter } from '../../src/grafeas/filter.js';
import { resourceUriOf } from '../../src/grafeas/provenance-mapping.js';
import { GrafeasSink } from '../../src/reporters/grafeas-sink.js';
import { type RunningStore, startStore } from '../../src/store/start-store.js';
import { signedReport, statementFor } from '../grafeas/statements.js';
import { type PostgresCluster, postgresUnavailable, startPostgres } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { AUTH_TOKENS, storeAuthScenarios } from './auth-scenarios.js';
import { storeScenarios } from './scenarios.js';
import { buildNote, buildOccurrence, call } from './store-client.js';
import { storeCredentials } from './store-tokens.js';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) {
  t.plan(0, `store on PostgreSQL skipped: ${unavailable}`);
} else {
  const logger = pino({ level: 'silent' });
  const cluster: PostgresCluster = await startPostgres();
  t.teardown(() => cluster.stop());
  const store: RunningStore = await startStore({
    listen: { host: '127.0.0.1', port: 0 },
    databaseUrl: cluster.url,
    logger,
  });
  t.teardown(() => store.close());
  t.equal(store.engine, 'postgres');

  t.test('the Grafeas v1 subset on PostgreSQL', async (t) => {
    storeScenarios(t, () => store.url);
  });

  t.test('tokens, roles and projects on PostgreSQL', async (t) => {
    const dir = await tempDir(t, 'store-pg-auth');
    const secured = await startStore({
      listen: { host: '127.0.0.1', port: 0 },
      databaseUrl: cluster.url,
      credentials: await storeCredentials(dir, Object.values(AUTH_TOKENS)),
      logger,
    });
    t.teardown(() => secured.close());
    storeAuthScenarios(t, () => secured.url);
  });

  t.test('the sink writes through it: once per subject, and within a second', async (t) => {
    const sink = new GrafeasSink({ url: store.url, project: 'sink-pg', logger });
    const reader = new GrafeasClient({ baseUrl: store.url });
    t.teardown(() => {
      sink.close();
      reader.close();
    });
    const report = await signedReport(
      'pg-1',
      statementFor(['registry.test:5000/lab/pg-a', 'registry.test:5000/lab/pg-b']),
    );
    const started = performance.now();
    await sink.deliver(report);
    const elapsed = performance.now() - started;
    t.ok(elapsed < 1000, `delivered in ${elapsed.toFixed(0)} ms`);
    await sink.deliver(report);
    for (const subject of report.statement.subject) {
      const filter = formatFilter([{ field: 'resourceUrl', value: resourceUriOf(subject) }]);
      const found = await reader.listOccurrences('sink-pg', { filter });
      t.equal(found.occurrences?.length, 1, `${subject.name}: one occurrence after two deliveries`);
      t.equal(
        found.occurrences?.[0]?.envelope?.payload,
        Buffer.from(report.envelope.payload, 'base64').toString('base64'),
      );
    }
  });

  t.test('the same migrations, recorded once, even with two stores starting together', async (t) => {
    const [a, b] = await Promise.all([
      startStore({ listen: { host: '127.0.0.1', port: 0 }, databaseUrl: cluster.url, logger }),
      startStore({ listen: { host: '127.0.0.1', port: 0 }, databaseUrl: cluster.url, logger }),
    ]);
    await Promise.all([a.close(), b.close()]);
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    t.teardown(() => client.end());
    const { rows } = await client.query('SELECT version, name FROM schema_migrations ORDER BY version');
    t.same(rows, [{ version: 1, name: 'notes, occurrences and deletions, insert-only' }]);
  });

  t.test('the database itself refuses to change stored provenance', async (t) => {
    await call(store.url, 'POST', '/v1/projects/immutable/notes?noteId=b', buildNote());
    const created = await call(
      store.url,
      'POST',
      '/v1/projects/immutable/occurrences',
      buildOccurrence('immutable', 'b', 'registry.test/app', 1),
    );
    t.equal(created.status, 200);
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    t.teardown(() => client.end());
    for (const sql of [
      `UPDATE grafeas_occurrences SET resource_uri = 'https://evil.test/x' WHERE project = 'immutable'`,
      `DELETE FROM grafeas_occurrences WHERE project = 'immutable'`,
      'TRUNCATE grafeas_occurrences CASCADE',
      `UPDATE grafeas_notes SET kind = 'IMAGE' WHERE project = 'immutable'`,
    ]) {
      await t.rejects(client.query(sql), /stored provenance is insert-only/, sql);
    }
    t.same((await call(store.url, 'GET', `/v1/${created.json.name}`)).json, created.json, 'still as written');
  });

  t.test('an unreachable database is reported with its URL, password hidden', async (t) => {
    const url = new URL(cluster.url);
    url.port = '1';
    const error: Error & { code?: string } = await startStore({
      listen: { host: '127.0.0.1', port: 0 },
      databaseUrl: url.href,
      logger,
    }).then(
      () => new Error('started'),
      (e: Error) => e,
    );
    t.equal(error.code, 'ERR_STORE_DATABASE_OPEN');
    t.match(error.message, /postgres:\/\/postgres:REDACTED@127\.0\.0\.1:1\/postgres/);
    t.notMatch(error.message, cluster.password);
  });
}
