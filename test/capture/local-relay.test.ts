// Loopback is exempt from the REDIRECT rules (the proxy's own ports live there), so a build
// may try to go around capture through a relay of its own on 127.0.0.0/8. The relay's outbound
// connection is the build's UID leaving the pod like any other: it is captured, and what goes
// through the relay is recorded exactly as if the client had connected itself.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildFixtureLayout } from '../support/fixture-images.js';
import { stopChild } from '../support/run-command.js';
import { waitUntil } from '../support/wait-until.js';
import { counterOf, ruleCounters } from './support/netfilter-counters.js';
import { realCaOnly, skopeoPushArgs } from './support/pod-commands.js';
import { podRegistryGroundTruth } from './support/pod-ground-truth.js';
import { BUILD_UID, isRoot, startPodLab, TRANSPARENT_PORT } from './support/pod-lab.js';
import { assertPushesRecorded } from './support/pod-records.js';

/** The registry's second port: the relay keeps the port, so Host, SNI and destination agree. */
const RELAY_PORT = 5443;
const RELAY_IP = '127.0.0.2';
const REDIRECT_RULE = `-A PP_OUTPUT -p tcp -j REDIRECT --to-ports ${TRANSPARENT_PORT}`;

if (!isRoot()) {
  t.plan(0, 'transparent capture needs root (network namespaces, iptables, setpriv)');
} else {
  t.test('a relay the build runs on loopback does not go around capture', async (t) => {
    const lab = await startPodLab('local-relay', (fn) => t.teardown(fn));
    const registry = await podRegistryGroundTruth(lab, (fn) => t.teardown(fn));
    // The build's own TCP relay, as the build's UID: 127.0.0.2:5443 → the registry's 5443, and
    // the registry's name pointed at the relay (a build can do both with any hosts file).
    await writeFile(`/etc/netns/${lab.pod}/hosts`, `127.0.0.1 localhost\n${RELAY_IP} registry.test\n`);
    const relay = spawn('ip', [
      'netns',
      'exec',
      lab.pod,
      'setpriv',
      `--reuid=${BUILD_UID}`,
      `--regid=${BUILD_UID}`,
      '--clear-groups',
      'socat',
      `TCP-LISTEN:${RELAY_PORT},bind=${RELAY_IP},reuseaddr,fork`,
      `TCP:${lab.registryIp}:${RELAY_PORT}`,
    ]);
    t.teardown(() => stopChild(relay));
    await waitUntil(async () => lab.inPod(['ss', '-Htln', `sport = :${RELAY_PORT}`]).stdout.trim() !== '', {
      what: 'the build relay listening',
      attempts: 50,
      intervalMs: 50,
    });

    await t.test(
      'trusting only the real CA through the relay: the handshake is with the proxy, and fails',
      async (t) => {
        const { caFile } = await realCaOnly(lab);
        const before = counterOf(ruleCounters(lab.inPod, 'nat'), REDIRECT_RULE);
        const result = lab.build([
          'curl',
          '-sS',
          '-m',
          '20',
          '--cacert',
          caFile,
          `https://registry.test:${RELAY_PORT}/v2/`,
        ]);
        t.not(result.status, 0, 'the real registry certificate never reached the client');
        t.equal(
          counterOf(ruleCounters(lab.inPod, 'nat'), REDIRECT_RULE) - before,
          1,
          "the relay's outbound connection was redirected",
        );
      },
    );

    await t.test('a push through the relay is recorded with the registry digests', async (t) => {
      const fixtures = await buildFixtureLayout(join(lab.dir, 'relay-layout'));
      const pushed = lab.build(
        skopeoPushArgs(lab, fixtures.ref('single'), `docker://registry.test:${RELAY_PORT}/relayed/single:1`),
      );
      t.equal(pushed.status, 0, `skopeo push through the relay: ${pushed.stderr.slice(-500)}`);
      await assertPushesRecorded(t, lab, registry, 'relayed/', `registry.test:${RELAY_PORT}`);
    });
  });
}
