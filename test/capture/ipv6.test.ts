// IPv6 is a way around an IPv4-only capture. With ip6tables, the CLI's IPv6 rules redirect it
// and the proxy recovers the IPv6 original destination; without ip6tables, the CLI disables
// IPv6 in the pod and says so. This machine's case is tested for real; the other is tested by
// running the CLI with a PATH that has no ip6tables tools.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildFixtureLayout } from '../support/fixture-images.js';
import { receiveOneDatagram } from './support/datagram-probe.js';
import { counterOf, ruleCounters } from './support/netfilter-counters.js';
import { buildCurlStatus, captureRulesInPod, skopeoPushArgs } from './support/pod-commands.js';
import { podRegistryGroundTruth } from './support/pod-ground-truth.js';
import { addIpv6Registry, POD_IP6, REGISTRY_IP6, restartProxyDualStack } from './support/pod-ipv6.js';
import { isRoot, type PodLab, startPodLab, TRANSPARENT_PORT } from './support/pod-lab.js';
import { assertPushesRecorded } from './support/pod-records.js';

const REDIRECT_RULE = `-A PP_OUTPUT -p tcp -j REDIRECT --to-ports ${TRANSPARENT_PORT}`;
const MISSING_MESSAGE = /ip6tables is missing: IPv6 is disabled in the pod instead/;

if (!isRoot()) {
  t.plan(0, 'transparent capture needs root (network namespaces, iptables, setpriv)');
} else if (spawnSync('ip6tables', ['-V']).status !== 0) {
  t.test('no ip6tables on this machine: the CLI disabled IPv6 in the pod and says so', async (t) => {
    const lab = await startPodLab('ipv6-missing', (fn) => t.teardown(fn));
    const applied = captureRulesInPod(lab);
    t.equal(applied.status, 0, applied.stderr);
    t.match(applied.stderr, MISSING_MESSAGE);
    assertIpv6Gone(t, lab);
  });
} else {
  t.test('IPv6 in the pod, with ip6tables', async (t) => {
    const base = await startPodLab('ipv6', (fn) => t.teardown(fn));
    const registry = await podRegistryGroundTruth(base, (fn) => t.teardown(fn));
    await addIpv6Registry(base, (fn) => t.teardown(fn));
    const v6Log = join(base.dir, 'registry', 'registry-v6.log');

    await t.test(
      'an IPv4-only transparent listener (0.0.0.0): IPv6 is refused, never around it',
      async (t) => {
        const result = buildCurlStatus(base, 'https://registry.test/v2/?over=ipv6-unheard');
        t.not(result.status, 0, 'the redirected IPv6 connection found no listener');
        const served = registryRequests(await readFile(v6Log, 'utf8'));
        t.notOk(
          served.some((r) => r.uri.includes('ipv6-unheard')),
          'the IPv6 registry never saw the request',
        );
      },
    );

    const lab: PodLab = { ...base, proxy: await restartProxyDualStack(base, (fn) => t.teardown(fn)) };

    t.test(
      'curl over IPv6: redirected by ip6tables, the IPv6 destination recovered, upstream over IPv6',
      async (t) => {
        const before = counterOf(ruleCounters(lab.inPod, 'nat', 6), REDIRECT_RULE);
        const result = buildCurlStatus(lab, 'https://registry.test/v2/?over=ipv6');
        t.equal(result.stdout, '200', result.stderr);
        t.equal(counterOf(ruleCounters(lab.inPod, 'nat', 6), REDIRECT_RULE) - before, 1, 'one IPv6 redirect');
        const served = registryRequests(await readFile(v6Log, 'utf8')).find((r) =>
          r.uri.includes('over=ipv6'),
        );
        t.ok(served, 'the IPv6 registry served it');
        t.match(
          served?.remote ?? '',
          POD_IP6,
          "from the pod's IPv6 address (the proxy's upstream connection)",
        );
      },
    );

    t.test('skopeo pushes over IPv6: recorded with the registry digests', async (t) => {
      const fixtures = await buildFixtureLayout(join(lab.dir, 'v6-layout'));
      const pushed = lab.build(
        skopeoPushArgs(lab, fixtures.ref('index'), 'docker://registry.test/v6/index:1', ['--all']),
      );
      t.equal(pushed.status, 0, `skopeo push: ${pushed.stderr.slice(-500)}`);
      t.ok(
        registryRequests(await readFile(v6Log, 'utf8')).some(
          (r) => r.method === 'PUT' && r.uri.startsWith('/v2/v6/index/manifests/'),
        ),
        'the manifest went to the registry over IPv6',
      );
      await assertPushesRecorded(t, lab, registry, 'v6/', 'registry.test');
    });

    t.test(
      'an IPv6 literal is intercepted too: its leaf names the IP, the upstream is verified (502)',
      async (t) => {
        const result = buildCurlStatus(lab, `https://[${REGISTRY_IP6}]/v2/`);
        t.equal(result.stdout, '502', result.stderr);
      },
    );

    t.test('UDP/443 over IPv6 does not leave the pod; DNS to an IPv6 resolver does', async (t) => {
      await writeFile(
        `/etc/netns/${lab.pod}/resolv.conf`,
        `nameserver ${lab.registryIp}\nnameserver ${REGISTRY_IP6}\n`,
      );
      const applied = captureRulesInPod(lab);
      t.equal(applied.status, 0, applied.stderr);
      const quic = await receiveOneDatagram(lab.registryNs, 443, 6);
      const dns = await receiveOneDatagram(lab.registryNs, 53, 6);
      const sent = lab.build([
        'sh',
        '-c',
        `printf quic | socat - UDP6:[${REGISTRY_IP6}]:443; printf dns | socat - UDP6:[${REGISTRY_IP6}]:53`,
      ]);
      t.equal(sent.status, 0, sent.stderr);
      t.equal(await dns.received, 'dns', 'the allowed datagram arrived (the IPv6 path works)');
      t.equal(await quic.received, '', 'the UDP/443 datagram did not');
    });

    t.test('without ip6tables the CLI disables IPv6 in the pod instead, and says so', async (t) => {
      const bin = join(lab.dir, 'no-ip6tables-bin');
      await mkdir(bin, { recursive: true });
      for (const tool of ['iptables', 'iptables-restore', 'iptables-save', 'sysctl'])
        await symlink(which(tool), join(bin, tool));
      const applied = captureRulesInPod(lab, { path: bin });
      t.equal(applied.status, 0, applied.stderr);
      t.match(applied.stderr, MISSING_MESSAGE);
      const checked = captureRulesInPod(lab, { path: bin, mode: '--check' });
      t.equal(checked.status, 0, `--check accepts a pod without IPv6: ${checked.stderr}`);
      assertIpv6Gone(t, lab);
    });
  });
}

function assertIpv6Gone(t: Test, lab: PodLab): void {
  const addresses = lab.inPod(['ip', '-6', '-o', 'addr', 'show', 'scope', 'global']);
  t.equal(addresses.stdout.trim(), '', 'the pod has no global IPv6 address left');
  const result = lab.build(['curl', '-sS', '-g', '-m', '5', `https://[${REGISTRY_IP6}]/v2/`]);
  t.not(result.status, 0, 'an IPv6 connection cannot be made');
}

function which(tool: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error(`${tool} not found`);
  return found;
}

/** The registry's own log lines: method, URI and the peer address it saw. */
function registryRequests(log: string): { method: string; uri: string; remote: string }[] {
  return log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.msg === 'response completed')
    .map((entry) => ({
      method: String(entry['http.request.method']),
      uri: String(entry['http.request.uri']),
      remote: String(entry['http.request.remoteaddr']),
    }));
}
