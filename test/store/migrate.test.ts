import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { migrate } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openPgliteDatabase } from '../../src/store/pglite-database.js';
import { tempDir } from '../support/temp-dir.js';

const logger = pino({ level: 'silent' });
const dir = await tempDir(t, 'migrate');
const db = await openPgliteDatabase(join(dir, 'db'));
t.teardown(() => db.close());

t.test('migrations apply once, in order, and are recorded', async (t) => {
  t.same(
    await migrate(db, logger),
    MIGRATIONS.map((m) => m.version),
  );
  t.same(await migrate(db, logger), [], 'nothing left to apply');
  const rows = await db.query<{ version: number; name: string }>(
    'SELECT version, name FROM schema_migrations ORDER BY version',
  );
  t.same(
    rows,
    MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
  );
});

t.test('a later migration is applied on top of the recorded ones', async (t) => {
  const next = [
    ...MIGRATIONS,
    { version: 99, name: 'test addition', statements: ['CREATE TABLE migration_probe (x int)'] },
  ];
  t.same(await migrate(db, logger, next), [99]);
  t.same(await db.query('SELECT count(*)::int AS n FROM migration_probe'), [{ n: 0 }]);
});

t.test('a database migrated by a newer store is refused', async (t) => {
  // version 99 is recorded now, but the store's own list does not know it
  await t.rejects(migrate(db, logger), { code: 'ERR_STORE_DATABASE_SCHEMA', message: /schema version 99/ });
});

t.test('a recorded migration with another name is refused', async (t) => {
  const renamed = MIGRATIONS.map((m) => ({ ...m, name: `${m.name} (edited)` }));
  await t.rejects(migrate(db, logger, [...renamed, { version: 99, name: 'test addition', statements: [] }]), {
    code: 'ERR_STORE_DATABASE_SCHEMA',
    message: /expected/,
  });
});

t.test('a failing migration leaves nothing behind', async (t) => {
  const broken = [
    ...MIGRATIONS,
    { version: 99, name: 'test addition', statements: [] },
    {
      version: 100,
      name: 'broken',
      statements: ['CREATE TABLE half_done (x int)', 'SELECT no_such_function()'],
    },
  ];
  await t.rejects(migrate(db, logger, broken), { code: 'ERR_STORE_DATABASE_MIGRATE' });
  t.same(await db.query(`SELECT to_regclass('half_done') IS NULL AS absent`), [{ absent: true }]);
  t.same(await db.query('SELECT max(version) AS v FROM schema_migrations'), [{ v: 99 }]);
});

t.test('the embedded database refuses updates and deletes of stored provenance too', async (t) => {
  await db.query(
    `INSERT INTO grafeas_occurrences (project, occurrence_id, resource_uri, note_name, kind, body, create_time)
     VALUES ('p', 'o1', 'https://r/x@sha256:00', 'projects/p/notes/n', 'BUILD', '{}', now())`,
  );
  await t.rejects(db.query(`UPDATE grafeas_occurrences SET kind = 'IMAGE'`), /insert-only/);
  await t.rejects(db.query('DELETE FROM grafeas_occurrences'), /insert-only/);
  await t.rejects(db.query('TRUNCATE grafeas_occurrences CASCADE'), /insert-only/);
  t.same(await db.query('SELECT kind FROM grafeas_occurrences'), [{ kind: 'BUILD' }]);
});
