// --registry-auth: the proxy speaks for the build. Clients configured with NO credentials push
// and pull through it to a Basic-auth registry and to a bearer-token registry; every token the
// proxy mints is scoped to exactly what one request needed; a rotated credentials file is
// picked up without a restart; no password or token reaches logs, journal, views or clients.

import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { buildSingleImageLayout } from '../support/fixture-images.js';
import { httpsRequestOnce } from '../support/https-request.js';
import { LAB_CREDENTIALS, type RegistryKind, startLab } from '../support/lab.js';
import type { RunningRegistry } from '../support/registry.js';
import { parseRegistryLog, type RegistryLogEntry } from '../support/registry-log.js';
import type { CommandResult } from '../support/run-command.js';
import { filesBelow, filesWithSecrets, leakedSecrets, tokenForms } from '../support/secret-scan.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';

const secretDir = await makeTempDir('registry-auth-secret');
t.teardown(() => secretDir.remove());
const mounted = join(secretDir.path, 'secret');
const authFile = join(mounted, 'config.json');
let revision = 0;

function authJson(hosts: readonly string[], password: string): string {
  const auth = Buffer.from(`${LAB_CREDENTIALS.username}:${password}`).toString('base64');
  return JSON.stringify({ auths: Object.fromEntries(hosts.map((host) => [host, { auth }])) });
}

/** Lays the file out as kubelet projects a Secret: config.json → ..data/config.json, ..data → a revision dir. */
function projectSecretSync(content: string): void {
  const dir = `..rev${++revision}`;
  mkdirSync(join(mounted, dir), { recursive: true });
  writeFileSync(join(mounted, dir, 'config.json'), content, { mode: 0o600 });
  symlinkSync(dir, join(mounted, '..data'));
  symlinkSync('..data/config.json', authFile);
}

/** A Secret update: a new revision dir, then one atomic rename of the ..data link. */
async function rotateSecret(content: string): Promise<void> {
  const dir = `..rev${++revision}`;
  await mkdir(join(mounted, dir), { recursive: true });
  await writeFile(join(mounted, dir, 'config.json'), content, { mode: 0o600 });
  await symlink(dir, join(mounted, '..data_tmp'));
  await rename(join(mounted, '..data_tmp'), join(mounted, '..data'));
}

let hosts: string[] = [];
const lab = await startLab({
  name: 'registry-auth',
  teardown: (fn) => t.teardown(fn),
  registries: ['basic', 'token'],
  proxyArgs: (registry) => {
    hosts = (['basic', 'token'] as RegistryKind[]).map((kind) => registry(kind).host);
    projectSecretSync(authJson(hosts, LAB_CREDENTIALS.password));
    return ['--registry-auth', authFile];
  },
});
const basic = lab.registry('basic');
const token = lab.registry('token');
const tokenServer = lab.tokenServer!;
const proxy = lab.proxy();
// The build's clients: an auth file with no entry at all.
const bare = await lab.clientsWithoutCredentials();
const layout = join(lab.dir, 'fixtures', 'brokered-layout');
await buildSingleImageLayout(layout, 'brokered');
await writeFile(join(bare.dir, 'notes.md'), '# brokered artifact\n');
const clientOutputs: CommandResult[] = [];
const run = async (result: Promise<CommandResult>) => {
  const done = await result;
  clientOutputs.push(done);
  return done;
};

/**
 * Every request the registry answered, errors (a 404 HEAD before a push) included: the shared
 * parser keeps only the successful ones.
 */
async function everyRequest(registry: RunningRegistry): Promise<RegistryLogEntry[]> {
  await registry.requestLog();
  const lines = (await readFile(registry.logPath, 'utf8')).split('\n');
  return parseRegistryLog(
    lines
      .map((line) => line.replace('"msg":"response completed with error"', '"msg":"response completed"'))
      .join('\n'),
  );
}

/** The scope a request needs, worked out here from the registry's own log (not from the proxy's code). */
function neededScope(entry: RegistryLogEntry): string | null {
  if (entry.query.has('log-barrier')) return null;
  if (entry.path === '/v2/') return '';
  const match = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(entry.path);
  if (match === null) return null;
  const name = match[1]!;
  if (match[2] === 'blobs' && match[3]!.startsWith('uploads')) {
    const from = entry.query.get('from');
    return from !== null && entry.query.has('mount') && from !== name
      ? `repository:${name}:pull,push repository:${from}:pull`
      : `repository:${name}:pull,push`;
  }
  if (entry.method === 'PUT') return `repository:${name}:pull,push`;
  if (entry.method === 'DELETE') return `repository:${name}:delete`;
  return `repository:${name}:pull`;
}

t.test('bearer registry, clients without credentials: crane, oras and skopeo push and pull', async (t) => {
  const mintedBefore = tokenServer.mintedScopes.length;
  await run(bare.crane(['push', layout, `${token.host}/brokered/crane:v1`]));
  await run(bare.crane(['copy', `${token.host}/brokered/crane:v1`, `${token.host}/brokered/copy:v1`]));
  await run(
    bare.oras(['push', `${token.host}/brokered/oras:v1`, 'notes.md:text/markdown'], { cwd: bare.dir }),
  );
  await run(bare.skopeoCopy(lab.fixtures.ref('single'), `docker://${token.host}/brokered/skopeo:v1`));
  const pulled = await run(bare.crane(['manifest', `${token.host}/brokered/skopeo:v1`]));
  t.match(pulled.stdout, 'schemaVersion', 'a pull returned the manifest');
  const minted = tokenServer.mintedScopes.slice(mintedBefore).map((scopes) => scopes.join(' '));
  const requests = tokenServer.requests.slice(-minted.length);
  t.ok(minted.length > 0, 'the proxy fetched tokens');
  t.ok(
    requests.every((request) => request.withCredentials && request.authenticated),
    'every token request carried the configured credentials',
  );
  const needed = new Set(
    (await everyRequest(token)).map(neededScope).filter((scope): scope is string => scope !== null),
  );
  t.same(
    minted.filter((scope) => !needed.has(scope)),
    [],
    'no token was minted for a scope no request needed (nothing broader)',
  );
  t.same(
    [...needed].filter((scope) => !minted.includes(scope)),
    [],
    'every scope a request needed was minted',
  );
  t.ok(
    minted.includes(`repository:brokered/copy:pull,push repository:brokered/crane:pull`),
    'the mount token names both',
  );
  t.equal(new Set(minted).size, minted.length, 'each scope was minted once (cached)');
  await assertRecordedExactly(t, lab, [
    repositories(token, ['brokered/crane', 'brokered/copy', 'brokered/oras', 'brokered/skopeo']),
  ]);
});

t.test('basic registry, clients without credentials: skopeo and crane', async (t) => {
  await run(bare.skopeoCopy(lab.fixtures.ref('single'), `docker://${basic.host}/brokered/skopeo:v1`));
  await run(bare.crane(['push', layout, `${basic.host}/brokered/crane:v1`]));
  await assertRecordedExactly(t, lab, [repositories(basic, ['brokered/skopeo', 'brokered/crane'])]);
});

t.test('the client never sees a 401; its own Authorization is dropped, never forwarded', async (t) => {
  for (const path of ['/v2/', '/v2/brokered/skopeo/manifests/v1']) {
    const response = await httpsRequestOnce({
      url: `https://${token.host}${path}`,
      headers: {
        authorization: 'Bearer forged.by.build',
        accept:
          'application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json',
      },
      ca: proxy.trust.caPem,
      proxy: { url: proxy.url },
    });
    t.equal(response.status, 200, `${path}: 200 with a forged header (the proxy's token replaced it)`);
    t.equal(response.headers['www-authenticate'], undefined, 'no challenge reaches the client');
  }
});

t.test('a rotated credentials file is picked up without a restart', async (t) => {
  const reloads = async () =>
    (await readFile(proxy.logPath, 'utf8')).split('registry credentials reloaded').length - 1;
  const before = await reloads();
  await rotateSecret(authJson(hosts, 'wrong-password'));
  await waitUntil(async () => (await reloads()) > before, {
    what: 'the wrong credentials to load',
    attempts: 100,
    intervalMs: 100,
  });
  const refused = await bare.skopeoCopyUnchecked(
    lab.fixtures.ref('single'),
    `docker://${basic.host}/brokered/rotated:v1`,
  );
  t.not(refused.code, 0, 'with the wrong password the push fails');
  const refusedToken = await bare.skopeoCopyUnchecked(
    lab.fixtures.ref('single'),
    `docker://${token.host}/brokered/rotated:v1`,
  );
  t.not(refusedToken.code, 0, 'and the token registry refuses too (its token service says 401)');
  t.match(refusedToken.stderr, /no registry token|502|Bad Gateway/i, 'the client is told why');
  clientOutputs.push(refused, refusedToken);
  await rotateSecret(authJson(hosts, LAB_CREDENTIALS.password));
  await waitUntil(async () => (await reloads()) > before + 1, {
    what: 'the right credentials to load',
    attempts: 100,
    intervalMs: 100,
  });
  await run(bare.skopeoCopy(lab.fixtures.ref('single'), `docker://${basic.host}/brokered/rotated:v1`));
  await run(bare.skopeoCopy(lab.fixtures.ref('single'), `docker://${token.host}/brokered/rotated:v1`));
  await assertRecordedExactly(t, lab, [
    repositories(basic, ['brokered/rotated']),
    repositories(token, ['brokered/rotated']),
  ]);
});

t.test('no password, Basic value or minted token in logs, journal, views or client output', async (t) => {
  const basicValue = (password: string) =>
    Buffer.from(`${LAB_CREDENTIALS.username}:${password}`).toString('base64');
  const secrets = [
    LAB_CREDENTIALS.password,
    'wrong-password',
    basicValue(LAB_CREDENTIALS.password),
    basicValue('wrong-password'),
    ...tokenForms(tokenServer.issuedTokens),
  ];
  t.same(await filesWithSecrets([proxy.logPath, ...(await filesBelow(proxy.dataDir))], secrets), [], 'files');
  const views = [
    JSON.stringify(await proxy.images()),
    JSON.stringify(await proxy.provenance()),
    await proxy.metrics(),
    (await proxy.control('/v1/observations?limit=1000')).body,
  ];
  for (const view of views) t.same(leakedSecrets(view, secrets), [], 'a view holds no secret');
  for (const output of clientOutputs)
    t.same(
      leakedSecrets(output.stdout + output.stderr, secrets),
      [],
      `${output.command}: nothing in its output`,
    );
});
