// A nested container (its own network namespace behind a bridge in the pod, as a container
// runtime wires it) pushes as its own root with no proxy variables: its packets are forwarded,
// not sent, by the pod, so only the nat PREROUTING rules catch them. The push must be in the
// record, and its datagrams must not get out either.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildFixtureLayout } from '../support/fixture-images.js';
import { requireTool } from '../support/tools.js';
import { receiveOneDatagram } from './support/datagram-probe.js';
import { startNestedNamespace } from './support/nested-namespace.js';
import { counterOf, ruleCounters } from './support/netfilter-counters.js';
import { realCaOnly, skopeoPushArgs } from './support/pod-commands.js';
import { podRegistryGroundTruth } from './support/pod-ground-truth.js';
import { isRoot, startPodLab, TRANSPARENT_PORT } from './support/pod-lab.js';
import { assertPushesRecorded } from './support/pod-records.js';

const PREROUTING_RULE = `-A PP_PREROUTING -p tcp -m addrtype ! --dst-type LOCAL -j REDIRECT --to-ports ${TRANSPARENT_PORT}`;
const OUTPUT_RULE = `-A PP_OUTPUT -p tcp -j REDIRECT --to-ports ${TRANSPARENT_PORT}`;

if (!isRoot()) {
  t.plan(0, 'transparent capture needs root (network namespaces, iptables, setpriv)');
} else {
  t.test('a nested container behind a bridge in the pod', async (t) => {
    const lab = await startPodLab('nested', (fn) => t.teardown(fn));
    const registry = await podRegistryGroundTruth(lab, (fn) => t.teardown(fn));
    const home = join(lab.dir, 'nested-home');
    await mkdir(home, { recursive: true });
    const nested = await startNestedNamespace(lab, home, (fn) => t.teardown(fn));
    const fixtures = await buildFixtureLayout(join(lab.dir, 'nested-layout'));

    t.test('a nested client pushes: caught by PREROUTING, recorded with the registry digests', async (t) => {
      const before = ruleCounters(lab.inPod, 'nat');
      const pushed = nested.run(
        skopeoPushArgs(lab, fixtures.ref('multi'), 'docker://registry.test/nested/multi:1'),
      );
      t.equal(pushed.status, 0, `skopeo push from the nested namespace: ${pushed.stderr.slice(-500)}`);
      const after = ruleCounters(lab.inPod, 'nat');
      t.ok(
        counterOf(after, PREROUTING_RULE) > counterOf(before, PREROUTING_RULE),
        'the nested connections went through PP_PREROUTING',
      );
      t.equal(
        counterOf(after, OUTPUT_RULE),
        counterOf(before, OUTPUT_RULE),
        "none went through the pod's OUTPUT (nothing in the pod itself connected)",
      );
      await assertPushesRecorded(t, lab, registry, 'nested/', 'registry.test');
    });

    t.test('a nested client that does not trust the proxy CA cannot push around it', async (t) => {
      const { certDir } = await realCaOnly(lab);
      const pushed = nested.run([
        requireTool('skopeo'),
        'copy',
        '--dest-cert-dir',
        certDir,
        '--dest-no-creds',
        fixtures.ref('single'),
        'docker://registry.test/nested/around:1',
      ]);
      t.not(pushed.status, 0, 'the TLS handshake was with the proxy, which it does not trust');
      const contents = await registry.directClient().request({ path: '/v2/nested/around/tags/list' });
      t.equal(contents.status, 404, 'the registry never got the image');
    });

    t.test('nested UDP/443 is dropped in FORWARD; nested DNS to the resolver is forwarded', async (t) => {
      const quic = await receiveOneDatagram(lab.registryNs, 443);
      const dns = await receiveOneDatagram(lab.registryNs, 53);
      const sent = nested.run([
        'sh',
        '-c',
        `printf quic | socat - UDP:${lab.registryIp}:443; printf dns | socat - UDP:${lab.registryIp}:53`,
      ]);
      t.equal(sent.status, 0, sent.stderr);
      t.equal(await dns.received, 'dns', 'the allowed datagram arrived (the forwarding path works)');
      t.equal(await quic.received, '', 'the UDP/443 datagram did not');
    });
  });
}
