/**
 * How the sink classifies failures, against a real HTTP server scripted to answer the way
 * overloaded, misconfigured or broken servers do (503, 429, 400, HTML, silence, resets): faults
 * our store does not produce on demand.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import t, { type Test } from 'tap';
import { GrafeasSink } from '../../src/reporters/grafeas-sink.js';
import { SinkError } from '../../src/reporters/sink.js';
import { signedReport, statementFor } from './statements.js';

type Reply = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const googleError =
  (code: number, status: string, message: string): Reply =>
  (_req, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code, message, status } }));
  };
const json =
  (body: unknown): Reply =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
const NOTE = json({ name: 'projects/p/notes/n', kind: 'BUILD', build: { builderVersion: '1' } });
const EMPTY_LIST = json({});

/** A server answering requests in order from a script; records what it was asked. */
async function scriptedServer(t: Test, script: Reply[]) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`);
    req.resume();
    const reply = script.shift();
    if (reply === undefined) googleError(500, 'INTERNAL', 'script exhausted')(req, res);
    else reply(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const logger = pino({ level: 'silent' });
const report = await signedReport('r', statementFor(['registry.test:5000/lab/app']));

async function failure(t: Test, url: string, timeoutMs?: number): Promise<SinkError> {
  const sink = new GrafeasSink({ url, project: 'p', logger, ...(timeoutMs ? { timeoutMs } : {}) });
  t.teardown(() => sink.close());
  const error = await sink.deliver(report).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, SinkError);
  return error as SinkError;
}

t.test(
  'only a payload proven unacceptable is final; everything else is retried, and carries the store message',
  async (t) => {
    const cases: [string, Reply[], boolean, string, RegExp][] = [
      [
        '503 on the note',
        [googleError(503, 'UNAVAILABLE', 'try later')],
        true,
        'http_503',
        /503 UNAVAILABLE: try later/,
      ],
      ['429 on the list', [NOTE, googleError(429, 'RESOURCE_EXHAUSTED', 'quota')], true, 'http_429', /quota/],
      [
        '500 on create',
        [NOTE, EMPTY_LIST, googleError(500, 'INTERNAL', 'disk full')],
        true,
        'http_500',
        /500 INTERNAL: disk full/,
      ],
      [
        '400 on create',
        [NOTE, EMPTY_LIST, googleError(400, 'INVALID_ARGUMENT', 'occurrence.resourceUri is required')],
        false,
        'http_400',
        /400 INVALID_ARGUMENT: occurrence\.resourceUri is required/,
      ],
      [
        '403 on the note (a credential can be fixed: retried)',
        [googleError(403, 'PERMISSION_DENIED', 'no access to p')],
        true,
        'http_403',
        /no access to p/,
      ],
      [
        '400 with no google.rpc status (a gateway, not the store, speaking)',
        [
          NOTE,
          EMPTY_LIST,
          (_req, res) => {
            res.writeHead(400, { 'content-type': 'text/plain' });
            res.end('bad request');
          },
        ],
        true,
        'http_400',
        /bad request/,
      ],
      [
        '413 on create (too large: parked, not retried)',
        [
          NOTE,
          EMPTY_LIST,
          (_req, res) => {
            res.writeHead(413, { 'content-type': 'text/plain' });
            res.end('too large');
          },
        ],
        false,
        'http_413',
        /too large/,
      ],
      [
        'an HTML 502 from a load balancer',
        [
          (_req, res) => {
            res.writeHead(502, { 'content-type': 'text/html' });
            res.end('<html><body>Bad Gateway</body></html>');
          },
        ],
        true,
        'http_502',
        /502 INTERNAL: <html><body>Bad Gateway/,
      ],
      [
        '200 that is not JSON',
        [
          (_req, res) => {
            res.writeHead(200, { 'content-type': 'text/html' });
            res.end('<html>login</html>');
          },
        ],
        true,
        'protocol',
        /not JSON/,
      ],
    ];
    for (const [name, script, retryable, cause, message] of cases) {
      const server = await scriptedServer(t, script);
      const error = await failure(t, server.url);
      t.match(error, { retryable, reason: cause, message }, name);
    }
  },
);

t.test('ALREADY_EXISTS on the note is the note we wanted', async (t) => {
  const server = await scriptedServer(t, [
    googleError(404, 'NOT_FOUND', 'no note'),
    googleError(409, 'ALREADY_EXISTS', 'made by a sibling proxy'),
    EMPTY_LIST,
    json({ name: 'projects/p/occurrences/1' }),
  ]);
  const sink = new GrafeasSink({ url: server.url, project: 'p', logger });
  t.teardown(() => sink.close());
  await sink.deliver(report);
  t.same(server.seen, [
    `GET /v1/projects/p/notes/${server.seen[0]!.split('/').pop()}`,
    'POST /v1/projects/p/notes',
    'GET /v1/projects/p/occurrences',
    'POST /v1/projects/p/occurrences',
  ]);
});

t.test('a note deleted behind the sink is made again, once', async (t) => {
  const server = await scriptedServer(t, [
    NOTE,
    EMPTY_LIST,
    googleError(404, 'NOT_FOUND', 'note gone'),
    googleError(404, 'NOT_FOUND', 'no note'),
    NOTE,
    EMPTY_LIST,
    json({ name: 'projects/p/occurrences/1' }),
  ]);
  const sink = new GrafeasSink({ url: server.url, project: 'p', logger });
  t.teardown(() => sink.close());
  await sink.deliver(report);
  t.same(
    server.seen.map((s) => s.replace(/notes\/.*/, 'notes/…')),
    [
      'GET /v1/projects/p/notes/…',
      'GET /v1/projects/p/occurrences',
      'POST /v1/projects/p/occurrences',
      'GET /v1/projects/p/notes/…',
      'POST /v1/projects/p/notes',
      'GET /v1/projects/p/occurrences',
      'POST /v1/projects/p/occurrences',
    ],
  );
});

t.test('transport failures are worth retrying', async (t) => {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const freePort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const refused = await failure(t, `http://127.0.0.1:${freePort}`);
  t.match(refused, { retryable: true, reason: 'network', message: /ECONNREFUSED/ }, 'nobody listening');

  const reset = await scriptedServer(t, [(req) => req.socket.destroy()]);
  t.match(await failure(t, reset.url), { retryable: true, reason: 'network' }, 'reset');

  const silent = await scriptedServer(t, [() => undefined]);
  t.match(
    await failure(t, silent.url, 200),
    { retryable: true, reason: 'timeout', message: /within 200 ms/ },
    'silence',
  );
});
