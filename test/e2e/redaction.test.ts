// Issue 8, probe 9: query parameters named jwt, pass, pw, bearer, sas, hmac, otp, private,
// access_key (and path secrets) reached logs, the journal and provenance. Each is sent here
// through the real proxy, to an origin that answers and to one that cannot be reached (so the
// target reaches an error log), and every place a secret could land is searched for it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startOrigin } from '../proxy/support/origin.js';
import { curlStatusThroughProxy } from '../support/clients.js';
import { freePort } from '../support/free-port.js';
import { testPki } from '../support/pki.js';
import { startProxy } from '../support/proxy.js';
import { SECRET_PARAMETERS } from '../support/secret-parameters.js';
import { makeTempDir } from '../support/temp-dir.js';
import { assertCliBuilt } from './support/cli.js';

await assertCliBuilt();
const home = await makeTempDir('redaction');
t.teardown(() => home.remove());
const origin = await startOrigin();
t.teardown(() => origin.close());
const proxy = await startProxy({ dir: home.path, upstreamCaPath: testPki().caPath });
t.teardown(() => proxy.stop());
const closedPort = await freePort();

const secrets: string[] = [];
function secret(): string {
  const value = `Zq${randomBytes(12).toString('hex')}`;
  secrets.push(value);
  return value;
}
function pathToken(): string {
  const value = `ghp_${randomBytes(18).toString('hex')}`;
  secrets.push(value);
  return value;
}

const get = (url: string, extra: string[] = []) => curlStatusThroughProxy(proxy, url, extra);

t.test('secrets in queries, paths and names are never recorded or logged', async (t) => {
  const base = `https://127.0.0.1:${origin.port}`;
  for (const [i, name] of SECRET_PARAMETERS.entries()) {
    const answered = await get(`${base}/dl/file-${i}.bin?${encodeURIComponent(name)}=${secret()}&n=5`);
    t.equal(answered.stdout.toString(), '200', `${name}: answered`);
    const failed = await get(`https://127.0.0.1:${closedPort}/dl/x?${encodeURIComponent(name)}=${secret()}`);
    t.equal(failed.stdout.toString(), '502', `${name}: upstream unreachable`);
  }
  await get(`${base}/raw/${pathToken()}/file.tar.gz?digest=sha256:abc`);
  await get(`http://127.0.0.1:${closedPort}/token/${secret()}/x?sas=${secret()}`);
  // A name the interpreter refuses but the origin acknowledges: its anomaly quotes the name.
  const put = await get(`${base}/v2/Lab/${pathToken()}/manifests/v1`, [
    '-X',
    'PUT',
    '-H',
    'content-type: application/vnd.oci.image.manifest.v1+json',
    '--data-binary',
    '{}',
  ]);
  t.equal(put.stdout.toString(), '200');

  const observations = (await proxy.control('/v1/observations?limit=1000')).body;
  const places: [string, string][] = [
    ['the log', readFileSync(proxy.logPath, 'utf8')],
    ['the journal', readFileSync(join(proxy.dataDir, 'observations.jsonl'), 'utf8')],
    ['/v1/observations', observations],
    ['/v1/images', JSON.stringify(await proxy.images())],
    ['the statement', JSON.stringify(await proxy.provenance())],
  ];
  for (const [place, text] of places) {
    const leaked = secrets.filter((s) => text.includes(s));
    t.same(leaked, [], `no secret in ${place}`);
  }
  // Not vacuous: the requests are there, with their harmless parts.
  const journal = places[1]![1];
  t.match(journal, `${base.replace('https://', '')}/dl/file-0.bin?jwt=REDACTED&n=5`);
  t.match(journal, '/raw/REDACTED/file.tar.gz?digest=sha256:abc');
  t.match(journal, /invalid_request_acknowledged.*Lab\/REDACTED/);
  t.match(places[0]![1], /"target":"\/dl\/x\?jwt=REDACTED".*upstream failed/);
  t.match(places[4]![1], '/dl/file-1.bin?pass=REDACTED&n=5');
});
