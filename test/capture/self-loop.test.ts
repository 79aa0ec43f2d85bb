// The proxy's own upstream connections leave the pod; they are never REDIRECTed back into
// its transparent port. Counted by netfilter itself: in the nat table a rule's packet count
// is the number of connections that reached it (only a connection's first packet traverses nat).
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { counterOf, ruleCounters } from './support/netfilter-counters.js';
import { buildCurlStatus, captureRulesInPod } from './support/pod-commands.js';
import { isRoot, type PodLab, PROXY_UID, startPodLab, TRANSPARENT_PORT } from './support/pod-lab.js';

const REDIRECT_RULE = `-A PP_OUTPUT -p tcp -j REDIRECT --to-ports ${TRANSPARENT_PORT}`;
const EXEMPT_RULE = '-A PP_OUTPUT -m owner --uid-owner';
/** Counts every TCP SYN to 443 the registry namespace receives (no target: a counter only). */
const REGISTRY_SYN_RULE = '-A INPUT -p tcp -m tcp --dport 443 --tcp-flags FIN,SYN,RST,ACK SYN';

if (!isRoot()) {
  t.plan(0, 'transparent capture needs root (network namespaces, iptables, setpriv)');
} else {
  t.test(
    'one build connection: one redirect, one exempt upstream connection, one SYN at the registry',
    async (t) => {
      const lab = await startPodLab('self-loop', (fn) => t.teardown(fn));
      countRegistrySyns(lab);
      const delta = await connectionsDuring(lab, () => {
        const result = buildCurlStatus(lab, 'https://registry.test/v2/');
        t.equal(result.stdout, '200', result.stderr);
      });
      // Without the UID exemption: redirected 2 (the proxy's upstream came back), exempt 0, registry 0.
      t.equal(delta.redirected, 1, "only the build's connection was redirected to the transparent port");
      t.equal(delta.exempt, 1, "the proxy's upstream connection passed the UID exemption");
      t.equal(delta.atRegistry, 1, "the registry saw exactly the proxy's one connection");
      t.equal(selfLoops(await lab.proxy.metrics()), 0, 'no self-loop was refused');
    },
  );

  t.test(
    "rules that do not exempt the proxy's UID: its own connection is refused at the first hop, never looped",
    async (t) => {
      const lab = await startPodLab('self-loop-misapplied', (fn) => t.teardown(fn));
      countRegistrySyns(lab);
      // A capture step given the wrong --proxy-uid: the proxy's connections are redirected too.
      const applied = captureRulesInPod(lab, { proxyUid: PROXY_UID + 1 });
      t.equal(applied.status, 0, applied.stderr);
      for (const url of ['http://registry.test:8080/plain', 'https://registry.test/v2/']) {
        const before = selfLoops(await lab.proxy.metrics());
        const delta = await connectionsDuring(lab, () => {
          const result = buildCurlStatus(lab, url);
          t.not(result.stdout, '200', `${url}: the build gets a failure, not the registry's answer`);
        });
        // Plain HTTP used to loop until --max-connections (1026 redirects for one request).
        t.equal(delta.redirected, 2, `${url}: the build's connection and the proxy's own, once`);
        t.equal(delta.atRegistry, 0, `${url}: nothing reached the registry`);
        t.equal(selfLoops(await lab.proxy.metrics()) - before, 1, `${url}: one self-loop refused`);
      }
      // Neither TLS nor HTTP: relayed blind, and the blind relay's own connection came back too.
      const before = selfLoops(await lab.proxy.metrics());
      const delta = await connectionsDuring(lab, () => {
        const sent = lab.build(['sh', '-c', 'printf hello | socat -t 5 - TCP:registry.test:2222']);
        t.equal(sent.stdout, '', `blind: nothing came back (${sent.stderr.trim()})`);
      });
      t.equal(delta.redirected, 2, "blind: the build's connection and the relay's own, once");
      t.equal(selfLoops(await lab.proxy.metrics()) - before, 1, 'blind: one self-loop refused');
      t.match(
        await readFile(lab.proxy.logPath, 'utf8'),
        /capture rules redirected the proxy's own connection/,
        'the log names the misconfiguration',
      );
    },
  );
}

function selfLoops(metrics: string): number {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith('provenance_proxy_connections_refused_total{cause="self_loop"}'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

function countRegistrySyns(lab: PodLab): void {
  const added = lab.inRegistry(['iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '443', '--syn']);
  if (added.status !== 0) throw new Error(added.stderr);
}

async function connectionsDuring(lab: PodLab, work: () => void) {
  const read = () => {
    const pod = ruleCounters(lab.inPod, 'nat');
    return {
      redirected: counterOf(pod, REDIRECT_RULE),
      exempt: counterOf(pod, EXEMPT_RULE),
      atRegistry: counterOf(ruleCounters(lab.inRegistry, 'filter'), REGISTRY_SYN_RULE),
    };
  };
  const before = read();
  work();
  const after = read();
  return {
    redirected: after.redirected - before.redirected,
    exempt: after.exempt - before.exempt,
    atRegistry: after.atRegistry - before.atRegistry,
  };
}
