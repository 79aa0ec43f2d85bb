import t from 'tap';
import { looksLikeCredential } from '../../src/log/credential-shape.js';
import { REDACTED, redactPath, redactQuery, redactText, redactUrl } from '../../src/log/redact-url.js';
import { recordableUrl } from '../../src/oci/url-redaction.js';
import { SECRET_PARAMETERS } from '../support/secret-parameters.js';

t.test('query values are kept only for allow-listed parameters', async (t) => {
  for (const name of SECRET_PARAMETERS) {
    t.equal(redactQuery(`${name}=s3cr3t-value`), `${name}=${REDACTED}`, name);
    t.equal(
      redactQuery(`${encodeURIComponent(name)}=a%20b&n=1`),
      `${encodeURIComponent(name)}=${REDACTED}&n=1`,
    );
  }
  const harmless: [string, string][] = [
    ['digest=sha256%3Aabc', 'digest=sha256%3Aabc'],
    ['mount=sha256:abc&from=lab/base', 'mount=sha256:abc&from=lab/base'],
    ['n=100&last=v1.2', 'n=100&last=v1.2'],
    ['ns=docker.io', 'ns=docker.io'],
    ['artifactType=application%2Fvnd.example', 'artifactType=application%2Fvnd.example'],
    ['_state=opaque&digest=sha256:1', `_state=${REDACTED}&digest=sha256:1`],
    ['Digest=sha256:1', `Digest=${REDACTED}`],
    ['', ''],
    ['flag', 'flag'],
    ['a=1=2', `a=${REDACTED}`],
  ];
  for (const [query, expected] of harmless) t.equal(redactQuery(query), expected, query);
  t.equal(redactQuery('ghp_abcdefghijklmnopqrstuvwxyz0123456789'), REDACTED, 'a bare token as a name');
  t.equal(redactQuery('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig=1'), `${REDACTED}=${REDACTED}`);
});

t.test('path segments that look like credentials are replaced; content hashes and names stay', async (t) => {
  const table: [string, string][] = [
    [
      '/releases/download/v1.2.3/tool-linux-amd64.tar.gz',
      '/releases/download/v1.2.3/tool-linux-amd64.tar.gz',
    ],
    [`/v2/lab/app/blobs/sha256:${'a'.repeat(64)}`, `/v2/lab/app/blobs/sha256:${'a'.repeat(64)}`],
    [
      '/v2/lab/app/blobs/uploads/3f1c2b0e-7d4a-4c1e-9d8f-0a1b2c3d4e5f',
      '/v2/lab/app/blobs/uploads/3f1c2b0e-7d4a-4c1e-9d8f-0a1b2c3d4e5f',
    ],
    [
      `/repo/archive/${'0123456789abcdef'.repeat(2)}${'01234567'}.tar.gz`,
      `/repo/archive/${'0123456789abcdef'.repeat(2)}01234567.tar.gz`,
    ],
    [`/commit/${'1a2b3c4d5e'.repeat(4)}`, `/commit/${'1a2b3c4d5e'.repeat(4)}`],
    ['/raw/ghp_abcdefghijklmnopqrstuvwxyz0123456789/file', `/raw/${REDACTED}/file`],
    ['/api/glpat-xxxxxxxxxxxxxxxxxxxx/x', `/api/${REDACTED}/x`],
    [
      '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
    ],
    ['/services/T0A1B2C3D/B0A1B2C3D/aB3dE5fG7hJ9kL1mN3pQ5rS7', `/services/T0A1B2C3D/B0A1B2C3D/${REDACTED}`],
    ['/token/abc/next', `/token/${REDACTED}/next`],
    ['/keys/short', `/keys/${REDACTED}`],
    ['/dl;jsessionid=ABC123/file', `/dl;${REDACTED}/file`],
    ['/a/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', `/a/${REDACTED}`],
    ['/AKIAABCDEFGHIJKLMNOP/x', `/${REDACTED}/x`],
    ['/x/ghp_%61bcdefghijklmnopqrstuvwxyz0123456789', `/x/${REDACTED}`],
    ['/', '/'],
    ['', ''],
  ];
  for (const [path, expected] of table) t.equal(redactPath(path), expected, path);
});

t.test('targets and URLs: path, query, userinfo and fragment', async (t) => {
  t.equal(redactUrl('/p?jwt=x&n=2#frag'), `/p?jwt=${REDACTED}&n=2`);
  t.equal(
    redactUrl('http://user:pw@host:8080/token/t1?sas=x'),
    `http://host:8080/token/${REDACTED}?sas=${REDACTED}`,
  );
  t.equal(redactUrl('http://host'), 'http://host');
  t.equal(
    recordableUrl(
      'https',
      'files.test:443',
      '/get/ghp_abcdefghijklmnopqrstuvwxyz0123456789?pass=x&digest=sha256:1',
    ),
    `https://files.test/get/${REDACTED}?pass=${REDACTED}&digest=sha256:1`,
  );
  t.equal(
    recordableUrl('https', 'files.test:443', '/a?%ZZ=1'),
    `https://files.test/a?${REDACTED}=${REDACTED}`,
  );
});

t.test('free text keeps words, loses credential-looking ones and URL secrets', async (t) => {
  t.equal(
    redactText('ERR_OCI_NAME: invalid name ghp_abcdefghijklmnopqrstuvwxyz0123456789 at /x?jwt=abc'),
    `ERR_OCI_NAME: invalid name ${REDACTED} at /x?jwt=${REDACTED}`,
  );
  t.equal(redactText('registry range 0-99, proxy saw 100 bytes'), 'registry range 0-99, proxy saw 100 bytes');
});

t.test('credential shapes', async (t) => {
  for (const yes of [
    'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
    'xoxb-123-456-abc',
    'AKIAABCDEFGHIJKLMNOP',
    'aB3dE5fG7hJ9kL1mN3pQ5rS7',
    'k7q2m9x4v8b3n6c1z5l0p2w7r4t9y3u8',
  ])
    t.ok(looksLikeCredential(yes), yes);
  for (const no of [
    'v1.2.3',
    'tool-linux-amd64.tar.gz',
    'a'.repeat(64),
    `sha256:${'b'.repeat(64)}`,
    '3f1c2b0e-7d4a-4c1e-9d8f-0a1b2c3d4e5f',
    'node-v20.11.1-linux-x64',
    'my-very-long-package-name-with-words',
  ])
    t.notOk(looksLikeCredential(no), no);
});
