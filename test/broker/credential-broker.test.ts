// The broker against a real HTTPS registry-and-token endpoint that the test steers: tokens are
// cached per scope and renewed before they expire, rotation drops them, and a hostile or broken
// token service gets a clear error that quotes none of the secrets.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { CredentialBroker } from '../../src/broker/credential-broker.js';
import { CredentialSource } from '../../src/broker/credential-source.js';
import { TokenUnavailableError } from '../../src/broker/errors.js';
import { OwnClient } from '../../src/broker/own-client.js';
import type { RequestHead } from '../../src/http/completed-exchange.js';
import { createTestCa } from '../support/pki.js';
import { makeTempDir } from '../support/temp-dir.js';

const temp = await makeTempDir('broker-unit');
t.teardown(() => temp.remove());
const ca = await createTestCa(join(temp.path, 'ca'));
const PASSWORD = 'broker-unit-password';

let tokenAnswer: (scope: string) => { status: number; body: string } = () => ({ status: 500, body: '' });
const tokenRequests: { scope: string; authorization: string | undefined }[] = [];
let challenge = '';
const server = createServer({ cert: ca.serverCertPem, key: ca.serverKeyPem }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://x');
  if (url.pathname === '/v2/') {
    res.writeHead(401, { 'www-authenticate': challenge }).end();
    return;
  }
  const scope = url.searchParams.getAll('scope').join(' ');
  tokenRequests.push({ scope, authorization: req.headers.authorization });
  const answer = tokenAnswer(scope);
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
});
server.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
const authority = `127.0.0.1:${(server.address() as AddressInfo).port}`;
challenge = `Bearer realm="https://${authority}/token",service="unit"`;

const authFile = join(temp.path, 'config.json');
const authJson = (password: string) =>
  JSON.stringify({ auths: { [authority]: { username: 'unit', password } } });
await writeFile(authFile, authJson(PASSWORD));
const logger = pino({ level: 'silent' });
const source = new CredentialSource(authFile, logger, 60_000);
t.teardown(() => source.close());
const client = new OwnClient([ca.caCertPem]);
t.teardown(() => client.close());
let now = 1_000_000;
const broker = new CredentialBroker(source, client, () => now);
const head = (method: string, target: string, at = authority): RequestHead => ({
  scheme: 'https',
  authority: at,
  method,
  target,
  headers: { authorization: 'Bearer from-the-build' },
});
let minted = 0;
const goodTokens = () => {
  tokenAnswer = (scope) => ({
    status: 200,
    body: JSON.stringify({ token: `tok-${++minted}-${scope.length}`, expires_in: 300 }),
  });
};

t.test('registries without credentials are left alone, synchronously', async (t) => {
  t.equal(broker.hook(head('GET', '/v2/a/manifests/v1', 'elsewhere.test:443')), null);
  t.equal(
    broker.hook({ ...head('GET', '/v2/a/manifests/v1'), scheme: 'http' }),
    null,
    'never over plain http',
  );
  t.equal(broker.hook(head('GET', '/not-a-registry-path')), null);
});

t.test('one token per scope, cached until shortly before expiry, then renewed', async (t) => {
  goodTokens();
  tokenRequests.length = 0;
  const first = await broker.hook(head('GET', '/v2/a/manifests/v1'));
  t.same(first?.remove, ['authorization'], "the client's header is dropped");
  t.match(first?.set.authorization, /^Bearer tok-1-/);
  const again = await broker.hook(head('HEAD', '/v2/a/blobs/sha256:' + 'e'.repeat(64)));
  t.equal(again?.set.authorization, first?.set.authorization, 'same scope (pull on a): cached');
  const push = await broker.hook(head('POST', '/v2/a/blobs/uploads/'));
  t.not(push?.set.authorization, first?.set.authorization, 'pull,push is another token');
  t.same(
    tokenRequests.map((r) => r.scope),
    ['repository:a:pull', 'repository:a:pull,push'],
  );
  t.equal(tokenRequests[0]?.authorization, `Basic ${Buffer.from(`unit:${PASSWORD}`).toString('base64')}`);
  now += 260_000;
  await broker.hook(head('GET', '/v2/a/manifests/v1'));
  t.equal(tokenRequests.length, 2, 'still fresh at 260 s of 300');
  now += 15_000;
  await broker.hook(head('GET', '/v2/a/manifests/v1'));
  t.equal(tokenRequests.length, 3, 'renewed within the last 30 s');
});

t.test('concurrent requests for one scope share one fetch', async (t) => {
  goodTokens();
  tokenRequests.length = 0;
  const all = await Promise.all(
    Array.from({ length: 20 }, () => broker.hook(head('GET', '/v2/b/tags/list'))),
  );
  t.equal(tokenRequests.length, 1);
  t.equal(new Set(all.map((a) => a?.set.authorization)).size, 1);
});

t.test('a rotated file drops every cached token', async (t) => {
  goodTokens();
  await writeFile(authFile, authJson('rotated-password'));
  source.reload();
  tokenRequests.length = 0;
  await broker.hook(head('GET', '/v2/a/manifests/v1'));
  t.equal(tokenRequests.length, 1, 'fetched again');
  t.equal(
    tokenRequests[0]?.authorization,
    `Basic ${Buffer.from('unit:rotated-password').toString('base64')}`,
  );
  await writeFile(authFile, '{ broken');
  source.reload();
  await broker.hook(head('GET', '/v2/a/manifests/v1'));
  t.equal(tokenRequests.length, 1, 'a broken file keeps the last good credentials and their tokens');
  await writeFile(authFile, authJson(PASSWORD));
  source.reload();
});

t.test('a hostile or broken token service: a clear error, no secret in it, nothing injected', async (t) => {
  const answers: { status: number; body: string }[] = [
    { status: 401, body: `{"details":"bad password ${PASSWORD}"}` },
    { status: 200, body: `not json ${PASSWORD}` },
    { status: 200, body: JSON.stringify({ token: 'abc\r\nx-injected: 1' }) },
    { status: 200, body: JSON.stringify({ token: 42 }) },
    { status: 200, body: 'x'.repeat(2 * 1024 * 1024) },
  ];
  for (const [index, answer] of answers.entries()) {
    tokenAnswer = () => answer;
    const error = (await broker.hook(head('GET', `/v2/hostile${index}/manifests/v1`))?.then(
      () => null,
      (e: unknown) => e,
    )) as Error;
    t.type(error, TokenUnavailableError, `answer ${index} refused`);
    t.notMatch(error.message, PASSWORD, 'the message quotes no secret');
    t.notMatch(error.message, 'x-injected');
  }
});

t.test('a realm that is not https never gets the credentials', async (t) => {
  challenge = `Bearer realm="http://${authority}/token",service="unit"`;
  await writeFile(authFile, authJson('after-realm-change'));
  source.reload();
  tokenRequests.length = 0;
  await t.rejects(broker.hook(head('GET', '/v2/a/manifests/v1'))!, /not https/);
  t.equal(tokenRequests.length, 0);
  challenge = `Bearer realm="https://${authority}/token",service="unit"`;
});

t.test('a realm whose certificate the upstream trust does not hold never gets the credentials', async (t) => {
  const stranger = await createTestCa(join(temp.path, 'stranger-ca'));
  const realm = createServer({ cert: stranger.serverCertPem, key: stranger.serverKeyPem }, (req, res) => {
    tokenRequests.push({ scope: 'stranger', authorization: req.headers.authorization });
    res.writeHead(200).end('{"token":"x"}');
  });
  realm.listen(0, '127.0.0.1');
  await new Promise((resolve) => realm.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => realm.close(() => resolve())));
  challenge = `Bearer realm="https://127.0.0.1:${(realm.address() as AddressInfo).port}/token",service="unit"`;
  await writeFile(authFile, authJson('after-stranger'));
  source.reload();
  tokenRequests.length = 0;
  await t.rejects(broker.hook(head('GET', '/v2/a/manifests/v1'))!, TokenUnavailableError);
  t.same(tokenRequests, [], 'the untrusted server saw no request');
  challenge = `Bearer realm="https://${authority}/token",service="unit"`;
  await writeFile(authFile, authJson(PASSWORD));
  source.reload();
});

t.test('a registry that answers 401 to a presented token makes the broker fetch a fresh one', async (t) => {
  goodTokens();
  tokenRequests.length = 0;
  const first = await broker.hook(head('GET', '/v2/revoked/manifests/v1'));
  const cached = await broker.hook(head('GET', '/v2/revoked/manifests/v1'));
  t.equal(cached?.set.authorization, first?.set.authorization, 'cached');
  cached?.onAnswer?.(200);
  t.equal(
    (await broker.hook(head('GET', '/v2/revoked/manifests/v1')))?.set.authorization,
    first?.set.authorization,
  );
  cached?.onAnswer?.(401);
  const fresh = await broker.hook(head('GET', '/v2/revoked/manifests/v1'));
  t.not(fresh?.set.authorization, first?.set.authorization, 'a 401 drops the token: a new one is fetched');
  t.equal(tokenRequests.length, 2);
});
