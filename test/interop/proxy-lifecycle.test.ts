// The proxy as the interop tests drive it: started as a child process on free ports, ready
// on /readyz, its CA served on /ca.pem and written to --ca-cert-out, pushes through it
// working with that CA, and kill -9 + restart on the same data dir and ports.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { readRegistryContents } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';

const lab = await startLab({ name: 'lifecycle', teardown: (fn) => t.teardown(fn), registries: ['open'] });
const registry = lab.registry('open');
const proxy = lab.proxy();

t.test('the CA on /ca.pem is the one written to --ca-cert-out', async (t) => {
  const written = await readFile(proxy.caCertOutPath, 'utf8');
  t.equal(written.trim(), proxy.trust.caPem.trim());
  t.match(written, /-----BEGIN CERTIFICATE-----/);
});

t.test('a client trusting only that CA pushes through the proxy (the proxy intercepts)', async (t) => {
  const pushed = await lab.clients.skopeoCopy(
    lab.fixtures.ref('single'),
    `docker://${registry.host}/lifecycle/a:v1`,
  );
  const contents = await readRegistryContents(registry, {
    includeRepository: (name) => name === 'lifecycle/a',
  });
  t.equal(contents.repositories[0]?.tags.v1, pushed.digest);
  // Direct trust (the test CA) through the proxy must fail: the proxy presents its own CA.
  const untrusting = lab.clients.withRoute({ proxyUrl: proxy.url, trust: lab.directTrust });
  const refused = await untrusting.skopeoCopyUnchecked(
    lab.fixtures.ref('single'),
    `docker://${registry.host}/lifecycle/refused:v1`,
  );
  t.not(refused.code, 0, 'a client that trusts only the registry CA is refused');
  t.match(refused.stderr, /certificate/i);
});

t.test('kill -9 and restart: ready again on the same ports, pushes work with the new CA', async (t) => {
  const pidBefore = proxy.pid();
  await proxy.kill('SIGKILL');
  t.not((await proxy.control('/readyz').catch(() => ({ status: 0 }))).status, 200, 'down after kill -9');
  await proxy.restart();
  t.not(proxy.pid(), pidBefore, 'a new process');
  t.equal((await proxy.control('/readyz')).status, 200);
  const pushed = await lab.clients.skopeoCopy(
    lab.fixtures.ref('multi'),
    `docker://${registry.host}/lifecycle/b:v1`,
  );
  const contents = await readRegistryContents(registry, {
    includeRepository: (name) => name === 'lifecycle/b',
  });
  t.equal(contents.repositories[0]?.tags.v1, pushed.digest);
});
