import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildFixtureLayout } from '../support/fixture-images.js';
import { requireTool } from '../support/tools.js';
import { waitUntil } from '../support/wait-until.js';
import { isRoot, type PodLab, startPodLab, TRANSPARENT_PORT } from './support/pod-lab.js';

if (!isRoot()) {
  t.plan(0, 'transparent capture needs root (network namespaces, iptables, setpriv)');
} else {
  t.test('a build with no proxy variables is captured anyway', async (t) => {
    const lab = await startPodLab('capture', (fn) => t.teardown(fn));
    const proxyCa = lab.proxy.trust;

    await t.test('curl to the registry name: intercepted, forwarded, recorded', async (t) => {
      const result = curlStatus(lab, 'https://registry.test/v2/');
      t.equal(result.stdout, '200', result.stderr);
      const metrics = await lab.proxy.metrics();
      t.match(metrics, /provenance_proxy_active_connections\{kind="transparent"\}/);
    });

    await t.test(
      'skopeo push, no HTTPS_PROXY: the push is in /v1/images with the registry digests',
      async (t) => {
        const fixtures = await buildFixtureLayout(join(lab.dir, 'layout'));
        lab.inPod(['chmod', '-R', 'a+rX', join(lab.dir, 'layout')]);
        const pushed = lab.build([
          requireTool('skopeo'),
          'copy',
          '--dest-cert-dir',
          proxyCa.certDir,
          '--dest-no-creds',
          fixtures.ref('single'),
          'docker://registry.test/capture/single:1',
        ]);
        t.equal(pushed.status, 0, pushed.stderr);
        const digest = fixtures.manifests.single.digest;
        const images = await waitUntil(
          async () => {
            const all = await lab.proxy.images();
            return all.some((i) => JSON.stringify(i).includes(digest)) ? all : false;
          },
          { what: 'the push in /v1/images', attempts: 100, intervalMs: 100 },
        );
        t.ok(JSON.stringify(images).includes('registry.test'), 'recorded under the registry name');
        // Ground truth: the registry stores that manifest revision.
        const hex = digest.replace('sha256:', '');
        await access(
          join(
            lab.storageDir,
            'docker/registry/v2/repositories/capture/single/_manifests/revisions/sha256',
            hex,
            'link',
          ),
        );
      },
    );

    await t.test(
      'IP-literal registry: intercepted with an IP leaf; upstream verified against the IP, which the registry cert lacks: 502, never unverified',
      async (t) => {
        const result = curlStatus(lab, `https://${lab.registryIp}/v2/`);
        // The client accepted the proxy's IP leaf (it went through the proxy, not around it).
        t.equal(result.stdout, '502', result.stderr);
      },
    );

    await t.test('non-443 port: captured too (the original port is kept)', async (t) => {
      const result = curlStatus(lab, 'https://registry.test:5443/v2/');
      t.equal(result.stdout, '200', result.stderr);
    });

    await t.test('NO_PROXY and a proxy variable pointing nowhere change nothing', async (t) => {
      const result = curlStatus(lab, 'https://registry.test/v2/', { NO_PROXY: '*', no_proxy: '*' });
      t.equal(result.stdout, '200', result.stderr);
    });

    await t.test('a client that trusts only the real CA fails, and the failure is recorded', async (t) => {
      const before = failedHandshakes(await lab.proxy.metrics());
      const result = lab.build(['curl', '-sS', '--cacert', lab.ca.caCertPath, 'https://registry.test/v2/']);
      t.not(result.status, 0, 'the TLS handshake with the proxy leaf must fail');
      await waitUntil(async () => failedHandshakes(await lab.proxy.metrics()) > before, {
        what: 'the failed client handshake counted',
        attempts: 50,
        intervalMs: 100,
      });
    });

    await t.test('UDP/443 datagrams do not leave the pod; DNS to the resolver does', async (t) => {
      // The registry namespace is the pod's resolver (resolv.conf), so port 53 is the control.
      const quic = receiveOneDatagram(lab, 443);
      const dns = receiveOneDatagram(lab, 53);
      await waitUntil(
        async () =>
          lab.inRegistry(['ss', '-uln']).stdout.includes(':53 ') &&
          lab.inRegistry(['ss', '-uln']).stdout.includes(':443 '),
        { what: 'udp listeners', attempts: 50, intervalMs: 100 },
      );
      const sent = lab.build([
        'sh',
        '-c',
        `printf quic | socat - UDP:${lab.registryIp}:443; printf dns | socat - UDP:${lab.registryIp}:53`,
      ]);
      t.equal(sent.status, 0, sent.stderr);
      t.equal(await dns, 'dns', 'the allowed datagram arrived (the path works)');
      t.equal(await quic, '', 'the UDP/443 datagram did not');
    });

    await t.test('connections aimed at the proxy itself are refused, never looped', async (t) => {
      // As the proxy's UID nothing is redirected: a direct connection to the transparent port.
      const direct = lab.inPod([
        'setpriv',
        '--reuid=65532',
        '--regid=65532',
        '--clear-groups',
        'curl',
        '-sS',
        '-m',
        '5',
        `http://127.0.0.1:${TRANSPARENT_PORT}/`,
      ]);
      t.not(direct.status, 0);
      // As the build: the pod's own address and the transparent port, redirected to itself.
      const looped = lab.build(['curl', '-sS', '-m', '5', `http://${lab.podIp}:${TRANSPARENT_PORT}/`]);
      t.not(looped.status, 0);
      const refused = (await lab.proxy.metrics())
        .split('\n')
        .filter((l) => l.startsWith('provenance_proxy_connections_refused_total'))
        .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
      t.ok(refused >= 2, `both refused (${refused})`);
      t.match(await lab.proxy.metrics(), /connections_refused_total\{cause="destination_is_proxy"\} [1-9]/);
    });
  });
}

/** curl in the pod as the build, trusting the proxy CA: status code on stdout. */
function curlStatus(lab: PodLab, url: string, env: Record<string, string> = {}) {
  return lab.build(
    ['curl', '-sS', '--cacert', lab.proxy.trust.bundlePath, '-o', '/dev/null', '-w', '%{http_code}', url],
    env,
  );
}

function failedHandshakes(metrics: string): number {
  const line = metrics
    .split('\n')
    .find(
      (l) => l.includes('tls_handshakes') && l.includes('side="client"') && l.includes('client_rejected_ca'),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** What one datagram to `port` in the registry namespace carries, or '' after 3 s. */
function receiveOneDatagram(lab: PodLab, port: number): Promise<string> {
  const child = spawn('ip', [
    'netns',
    'exec',
    lab.registryNs,
    'timeout',
    '3',
    'socat',
    '-u',
    `UDP-RECV:${port}`,
    '-',
  ]);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return new Promise((resolve) => child.once('close', () => resolve(text)));
}
