import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { runStoreCommand } from '../../src/cli/store-command.js';
import type { RunningStore } from '../../src/store/start-store.js';
import { parseStoreArgs } from '../../src/store/store-options.js';
import { call } from './store-client.js';

const dir = await mkdtemp(join(tmpdir(), 'pp-store-cmd-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const tokenFile = join(dir, 'token');
await writeFile(tokenFile, 's3cret-token-for-the-store\n');

t.test('options are checked once, each rule naming its option', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--listen', '127.0.0.1:1'], /--data-dir.*required unless --database-url/],
    [['--data-dir', dir, '--listen', 'nowhere'], /--listen.*HOST:PORT/],
    [['--database-url', 'mysql://x'], /--database-url.*postgres:\/\//],
    [['--data-dir', ''], /--data-dir.*empty/],
    [['--data-dir', dir, '--token-file', join(dir, 'missing')], /--token-file.*cannot read/],
    [['--data-dir', dir, '--log-level', 'chatty'], /--log-level/],
    [['--data-dir', dir, '--colour', 'red'], /Unknown option '--colour'/],
  ];
  for (const [argv, message] of cases) {
    await t.rejects(parseStoreArgs(argv), { code: 'ERR_INVALID_OPTION', message }, argv.join(' '));
  }
  const short = join(dir, 'short');
  await writeFile(short, 'abc');
  await t.rejects(parseStoreArgs(['--data-dir', dir, '--token-file', short]), {
    message: /at least 16 characters/,
  });
  const parsed = await parseStoreArgs(['--listen', '[::1]:0', '--data-dir', dir, '--token-file', tokenFile]);
  t.same(parsed, {
    listen: { host: '::1', port: 0 },
    dataDir: dir,
    databaseUrl: null,
    token: 's3cret-token-for-the-store',
    logLevel: 'info',
    maxBodyBytes: null,
  });
  t.match(await parseStoreArgs(['--data-dir', dir, '--max-body-bytes', '1048576']), {
    maxBodyBytes: 1048576,
  });
  await t.rejects(parseStoreArgs(['--data-dir', dir, '--max-body-bytes', '65536']), {
    code: 'ERR_INVALID_OPTION',
    message: /--max-body-bytes.*>= 1048576/,
  });
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
    ['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--token-file', tokenFile],
    { logger, signal: stop.signal, onListening: (s) => listening(s) },
  );
  const { url } = await Promise.race([
    started,
    running.then(() => Promise.reject(new Error('the command ended before listening'))),
  ]);
  t.equal((await call(url, 'GET', '/v1/projects/p/notes')).status, 401);
  const authorized = await call(url, 'GET', '/v1/projects/p/notes', undefined, {
    authorization: 'Bearer s3cret-token-for-the-store',
  });
  t.equal(authorized.status, 200);
  stop.abort();
  await running;
  await t.rejects(fetch(`${url}/healthz`), 'stopped listening');
  const log = lines.join('');
  t.match(log, /grafeas store listening/);
  t.match(log, /grafeas store stopped/);
  t.notMatch(log, /s3cret-token-for-the-store/);
});
