import t from 'tap';
import { startMisbehavingOrigin } from '../fuzz/misbehaving-origin.js';
import { curl } from '../support/clients.js';
import { testPki } from '../support/pki.js';
import { startProxy } from '../support/proxy.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Upstream answers Node's client parser accepts but its server side refuses to write: each one
 * ended the process (found by test/fuzz). The proxy must answer the client and stay up.
 */
/**
 * `status` is what curl's %{http_code} must match: `000` is a cut connection. A malformed
 * chunk after a good head may arrive before or after the head was handed to the client, so
 * the proxy answers 502 or cuts; either way the client never sees a complete 200.
 */
const CASES: { name: string; answer: string; status: RegExp; body?: RegExp }[] = [
  {
    name: 'a reason phrase with a DEL character is replaced by the standard one',
    answer: 'HTTP/1.1 200 O\x7fK\r\nContent-Length: 2\r\n\r\nok',
    status: /^200$/,
    body: /^ok$/,
  },
  {
    name: 'a Trailer header on a response that is not chunked is dropped',
    answer: 'HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nContent-Length: 2\r\n\r\nok',
    status: /^200$/,
    body: /^ok$/,
  },
  {
    name: 'a status above 599 is refused with a 502',
    answer: 'HTTP/1.1 799 Odd\r\nContent-Length: 2\r\n\r\nok',
    status: /^502$/,
    body: /malformed HTTP response/,
  },
  {
    name: 'a bad reason phrase followed by a malformed chunk is cut, not thrown',
    answer: 'HTTP/1.1 200 O\x7fK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    status: /^(502|000)$/,
  },
];

t.test('upstream heads the proxy cannot copy as they are: answered, and the proxy stays up', async (t) => {
  const dir = await makeTempDir('upstream-heads');
  const origin = await startMisbehavingOrigin();
  const proxy = await startProxy({ dir: dir.path, upstreamCaPath: testPki().caPath });
  t.teardown(async () => {
    await proxy.stop();
    await origin.close();
    await dir.remove();
  });
  for (const [id, c] of CASES.entries()) {
    t.test(c.name, async (t) => {
      origin.script(id, { answer: Buffer.from(c.answer, 'latin1'), hold: false });
      for (const scheme of ['https', 'http'] as const) {
        const port = scheme === 'https' ? origin.tlsPort : origin.plainPort;
        const host = scheme === 'https' ? 'localhost' : '127.0.0.1';
        const result = await curl([
          '--proxy',
          proxy.url,
          '--cacert',
          proxy.caCertOutPath,
          '-w',
          '\n%{http_code}',
          `${scheme}://${host}:${port}/fz${id}/${scheme}`,
        ]);
        const lines = result.stdout.toString('latin1').split('\n');
        t.match(lines.at(-1), c.status, `${scheme}: status (${result.stderr.trim()})`);
        if (c.body) t.match(lines.slice(0, -1).join('\n'), c.body, `${scheme}: body`);
        t.equal((await proxy.control('/healthz')).status, 200, `${scheme}: the proxy is still up`);
      }
    });
  }
});
