import { access, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { runStoreCommand } from '../../src/cli/store-command.js';
import { isLoopback, type RunningStore } from '../../src/store/start-store.js';
import { parseStoreArgs } from '../../src/store/store-options.js';
import { tempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';
import { call } from './store-client.js';
import { bearer, writeTokensFile } from './store-tokens.js';

const dir = await tempDir(t, 'store-cmd');
const SECRET = 's3cret-token-for-the-store';
const tokensFile = await writeTokensFile(dir, [
  { name: 'ops', role: 'admin', projects: ['*'], token: SECRET },
]);

t.test('options are checked once, each rule naming its option', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--listen', '127.0.0.1:1'], /--data-dir.*required unless --database-url/],
    [['--data-dir', dir, '--listen', 'nowhere'], /--listen.*HOST:PORT/],
    [['--database-url', 'mysql://x'], /--database-url.*postgres:\/\//],
    [['--data-dir', ''], /--data-dir.*empty/],
    [['--data-dir', dir, '--tokens-file', join(dir, 'missing')], /--tokens-file.*cannot read/],
    [
      ['--data-dir', dir, '--page-token-key-file', join(dir, 'missing')],
      /--page-token-key-file.*cannot read/,
    ],
    [['--data-dir', dir, '--token-file', tokensFile], /Unknown option '--token-file'/],
    [['--data-dir', dir, '--log-level', 'chatty'], /--log-level/],
    [['--data-dir', dir, '--colour', 'red'], /Unknown option '--colour'/],
  ];
  for (const [argv, message] of cases) {
    await t.rejects(parseStoreArgs(argv), { code: 'ERR_INVALID_OPTION', message }, argv.join(' '));
  }
  const bad: [string, RegExp][] = [
    [
      '{"tokens": [{"name": "x", "role": "writer", "projects": ["p"], "token": "abc"}]}',
      /at least 16 characters/,
    ],
    ['{"tokens": []}', /at least one token/],
    [
      `{"tokens": [{"name": "x", "role": "root", "projects": ["p"], "token": "${SECRET}"}]}`,
      /role must be reader, writer or admin/,
    ],
    [
      `{"tokens": [{"name": "x", "role": "writer", "projects": [], "token": "${SECRET}"}]}`,
      /projects must be a non-empty list/,
    ],
    [
      `{"tokens": [{"name": "x", "role": "writer", "projects": ["p"], "token": "${SECRET}", "sha256": "00"}]}`,
      /either token or sha256/,
    ],
    [
      `{"tokens": [{"name": "x", "role": "writer", "projects": ["p"], "token": "${SECRET}"}, {"name": "y", "role": "admin", "projects": ["*"], "token": "${SECRET}"}]}`,
      /reuses another entry's token/,
    ],
    [
      `{"tokens": [{"name": "x", "role": "writer", "projects": ["p"], "token": "${SECRET}",}]}`,
      /is not valid JSON$/,
    ],
  ];
  for (const [text, message] of bad) {
    const path = join(dir, 'bad.json');
    await writeFile(path, text);
    const error = await parseStoreArgs(['--data-dir', dir, '--tokens-file', path]).then(
      () => new Error('accepted'),
      (e: Error) => e,
    );
    t.match(error, { code: 'ERR_INVALID_OPTION', message: /--tokens-file/ }, text);
    t.match(error.message, message, text);
    t.notMatch(error.message, SECRET, 'the error never quotes a token');
  }
  const shortKey = join(dir, 'short-key');
  await writeFile(shortKey, 'abc');
  await t.rejects(parseStoreArgs(['--data-dir', dir, '--page-token-key-file', shortKey]), {
    message: /at least 32 bytes/,
  });
  const parsed = await parseStoreArgs([
    '--listen',
    '[::1]:0',
    '--data-dir',
    dir,
    '--tokens-file',
    tokensFile,
  ]);
  t.match(parsed, { listen: { host: '::1', port: 0 }, dataDir: dir, databaseUrl: null, logLevel: 'info' });
  t.same(parsed?.credentials?.summary(), [{ name: 'ops', role: 'admin', projects: ['*'] }]);
  t.equal(parsed?.maxBodyBytes, null, 'no --max-body-bytes: the default limit');
  t.match(await parseStoreArgs(['--data-dir', dir, '--max-body-bytes', '1048576']), {
    maxBodyBytes: 1048576,
  });
  await t.rejects(parseStoreArgs(['--data-dir', dir, '--max-body-bytes', '65536']), {
    code: 'ERR_INVALID_OPTION',
    message: /--max-body-bytes.*>= 1048576/,
  });
});

t.test('without tokens it refuses to listen anywhere but loopback', async (t) => {
  for (const host of ['0.0.0.0', '::', '10.1.2.3', '::ffff:10.0.0.1']) {
    const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
    await t.rejects(
      runStoreCommand(['--listen', listen, '--data-dir', join(dir, 'refused')], {
        logger: pino({ level: 'silent' }),
      }),
      { code: 'ERR_INVALID_OPTION', message: /--tokens-file: is required to listen on/ },
      host,
    );
  }
  await t.rejects(access(join(dir, 'refused', 'pglite')), 'no database was opened');
  for (const host of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', 'localhost', '::ffff:127.0.0.1']) {
    t.ok(isLoopback(host), `${host} is loopback`);
  }
  for (const host of ['0.0.0.0', '::', '128.0.0.1', 'example.com', '::ffff:10.0.0.1']) {
    t.notOk(isLoopback(host), `${host} is not loopback`);
  }
});

t.test('--help prints usage and starts nothing', async (t) => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString();
  });
  await runStoreCommand(['--help'], { stdout: out });
  t.match(text, /Usage: provenance-proxy store --listen HOST:PORT --data-dir DIR/);
});

t.test('runs until told to stop, with the token from the file, and never logs it', async (t) => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => lines.push(c.toString()));
  const logger = pino({ level: 'debug' }, sink);
  const stop = new AbortController();
  let listening: (store: RunningStore) => void = () => undefined;
  const started = new Promise<RunningStore>((resolve) => {
    listening = resolve;
  });
  const running = runStoreCommand(
    ['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--tokens-file', tokensFile],
    { logger, signal: stop.signal, onListening: (s) => listening(s) },
  );
  const { url } = await Promise.race([
    started,
    running.then(() => Promise.reject(new Error('the command ended before listening'))),
  ]);
  t.equal((await call(url, 'GET', '/v1/projects/p/notes')).status, 401);
  const authorized = await call(url, 'GET', '/v1/projects/p/notes', undefined, {
    authorization: `Bearer ${SECRET}`,
  });
  t.equal(authorized.status, 200);

  // A Secret rotated in place: the new file is picked up, the old token stops working.
  const ROTATED = 'rotated-token-for-the-store';
  await writeTokensFile(
    dir,
    [{ name: 'ops-2', role: 'admin', projects: ['*'], token: ROTATED }],
    'next.json',
  );
  await rename(join(dir, 'next.json'), tokensFile);
  await waitUntil(
    async () => (await call(url, 'GET', '/v1/projects/p/notes', undefined, bearer(ROTATED))).status === 200,
    { what: 'the rotated token to be accepted', attempts: 50, intervalMs: 100 },
  );
  t.equal(
    (await call(url, 'GET', '/v1/projects/p/notes', undefined, bearer(SECRET))).status,
    401,
    'the old one is gone',
  );
  await writeFile(join(dir, 'broken.json'), '{"tokens": ');
  await rename(join(dir, 'broken.json'), tokensFile);
  // The file is looked at when a request comes, at most once a second.
  await waitUntil(
    async () => {
      await call(url, 'GET', '/v1/projects/p/notes', undefined, bearer(ROTATED));
      return lines.join('').includes('store tokens file changed but is invalid');
    },
    {
      what: 'the broken tokens file to be reported',
      attempts: 50,
      intervalMs: 100,
    },
  );
  t.equal(
    (await call(url, 'GET', '/v1/projects/p/notes', undefined, bearer(ROTATED))).status,
    200,
    'a broken file keeps the tokens read before',
  );
  stop.abort();
  await running;
  await t.rejects(fetch(`${url}/healthz`), 'stopped listening');
  const log = lines.join('');
  t.match(log, /grafeas store listening/);
  t.match(log, /grafeas store stopped/);
  t.notMatch(log, SECRET);
  t.notMatch(log, ROTATED);
  t.match(log, /"caller":"ops-2"/, "requests are logged with the token's name");
});
