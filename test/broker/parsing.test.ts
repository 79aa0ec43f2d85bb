// The broker's pure parts: the Docker config.json it reads, the challenges it understands and
// the scopes it asks for. Errors name the registry, never a value from the file.
import t from 'tap';
import { parseChallenge } from '../../src/broker/challenge.js';
import { RegistryAuthFileError } from '../../src/broker/errors.js';
import { parseRegistryAuthFile } from '../../src/broker/registry-auth-file.js';
import { requiredScopes } from '../../src/broker/required-scope.js';

const D = `sha256:${'d'.repeat(64)}`;

t.test('config.json: auth, username/password, identitytoken, keys with scheme and path', async (t) => {
  const credentials = parseRegistryAuthFile(
    JSON.stringify({
      auths: {
        'registry.test:5000': { auth: Buffer.from('u:p:with:colons').toString('base64') },
        'https://Ghcr.io': { username: 'me', password: 'pw' },
        'https://index.docker.io/v1/': { identitytoken: 'refresh-me' },
      },
      credHelpers: { ignored: 'x' },
    }),
  );
  t.same(credentials.get('registry.test:5000'), {
    kind: 'password',
    username: 'u',
    password: 'p:with:colons',
  });
  t.same(credentials.get('ghcr.io:443'), { kind: 'password', username: 'me', password: 'pw' });
  t.equal(
    credentials.get('registry-1.docker.io:443')?.kind,
    'identity-token',
    'Docker Hub key → its API host',
  );
});

t.test('an unusable file is refused without quoting a secret', async (t) => {
  const secret = 's3cr3t-value';
  for (const text of [
    'not json',
    '{}',
    JSON.stringify({ auths: [] }),
    JSON.stringify({ auths: { 'registry.test': { auth: Buffer.from(secret).toString('base64') } } }),
    JSON.stringify({ auths: { 'registry.test': { password: secret } } }),
    JSON.stringify({ auths: { 'bad host!': { username: 'u', password: secret } } }),
  ]) {
    const error = t.throws(() => parseRegistryAuthFile(text), RegistryAuthFileError) as Error;
    t.notMatch(error.message, secret, 'the message holds no secret');
  }
});

t.test('challenges: Bearer with quoted params, Basic, neither', async (t) => {
  t.same(
    parseChallenge(
      'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull"',
    ),
    {
      scheme: 'bearer',
      realm: 'https://auth.test/token',
      service: 'registry.test',
    },
  );
  t.same(parseChallenge(['Basic realm="Registry Realm"']), { scheme: 'basic' });
  t.same(parseChallenge('bearer realm=https://a/t'), {
    scheme: 'bearer',
    realm: 'https://a/t',
    service: null,
  });
  t.equal(parseChallenge('Negotiate abc'), null);
  t.equal(parseChallenge('Bearer service="x"'), null, 'a bearer challenge without realm is useless');
  t.equal(parseChallenge(undefined), null);
});

t.test('scopes: exactly what each request needs', async (t) => {
  const cases: [string, string, readonly string[] | null][] = [
    ['GET', '/v2/', []],
    ['GET', '/v2/a/b/manifests/v1', ['repository:a/b:pull']],
    ['HEAD', `/v2/a/blobs/${D}`, ['repository:a:pull']],
    ['GET', '/v2/a/tags/list', ['repository:a:pull']],
    ['POST', '/v2/a/blobs/uploads/', ['repository:a:pull,push']],
    ['PATCH', '/v2/a/blobs/uploads/u', ['repository:a:pull,push']],
    ['PUT', `/v2/a/blobs/uploads/u?digest=${D}`, ['repository:a:pull,push']],
    ['PUT', '/v2/a/manifests/v1', ['repository:a:pull,push']],
    [
      'POST',
      `/v2/a/blobs/uploads/?mount=${D}&from=src/x`,
      ['repository:a:pull,push', 'repository:src/x:pull'],
    ],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=a`, ['repository:a:pull,push']],
    ['DELETE', `/v2/a/manifests/${D}`, ['repository:a:delete']],
    ['PUT', '/v2/a/../b/manifests/v1', []],
    ['GET', '/token?scope=x', null],
  ];
  for (const [method, target, scopes] of cases)
    t.same(requiredScopes(method, target), scopes, `${method} ${target}`);
});
