import { spawn } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { captureRuleSet } from '../../src/capture/capture-rules.js';
import { makeTempDir } from '../support/temp-dir.js';
import { PROJECT_ROOT } from '../support/tools.js';
import { waitUntil } from '../support/wait-until.js';
import { egressAnnotations, journalKinds, policyDecisionCount } from './support/egress-evidence.js';
import {
  CANARY_ADDRESS,
  isRoot,
  type PodLab,
  PROXY_UID,
  startPodLab,
  TRANSPARENT_PORT,
} from './support/pod-lab.js';

interface CaptureView {
  mode: string;
  ruleSetHash: string | null;
  egressComplete: boolean;
  forgedCanaries: number;
  checks: { passed: number; failed: number };
  anomalies: { code: string }[];
}

const captureView = async (lab: PodLab): Promise<CaptureView> =>
  JSON.parse((await lab.proxy.control('/v1/egress/capture')).body) as CaptureView;

/** A TCP listener in the registry namespace that writes a line per connection and every byte it gets. */
async function startSentinel(lab: PodLab, ports: number[], t: { teardown(fn: () => void): void }) {
  const log = join(lab.dir, 'sentinel.log');
  await writeFile(log, '');
  const script = `const net=require('node:net'),fs=require('node:fs');for(const p of process.argv.slice(3).map(Number))net.createServer(s=>{fs.appendFileSync(process.argv[1],'conn '+p+'\\n');s.on('data',d=>fs.appendFileSync(process.argv[1],d));s.on('error',()=>{})}).listen(p,process.argv[2]);`;
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      lab.registryNs,
      process.execPath,
      '-e',
      script,
      log,
      lab.registryIp,
      ...ports.map(String),
    ],
    {
      stdio: 'ignore',
    },
  );
  t.teardown(() => child.kill('SIGKILL'));
  await waitUntil(
    async () => ports.every((p) => lab.inRegistry(['ss', '-tln']).stdout.includes(`${lab.registryIp}:${p} `)),
    { what: 'the sentinel listening', attempts: 100, intervalMs: 100 },
  );
  return { seen: () => readFile(log, 'utf8') };
}

/** Sends `text` to host:port from the pod as the build (no proxy variables), through whatever rules there are. */
function sendAsBuild(lab: PodLab, host: string, port: number, text: string) {
  return lab.build(['sh', '-c', `printf '%s' "$0" | socat -t 2 -T 5 - TCP:${host}:${port}`, text]);
}

if (!isRoot()) {
  t.plan(0, 'capture checks need root (network namespaces, iptables, setpriv)');
} else {
  t.test(
    'rules applied and the canary back: complete, with the rule-set hash; enforce on every transparent path; rules flushed: withdrawn',
    async (t) => {
      const lab = await startPodLab('claim', (fn) => t.teardown(fn), {
        proxyArgs: [
          '--egress-policy',
          'enforce',
          '--egress-allow',
          'registry.test',
          '--capture-check-interval',
          '2s',
        ],
      });
      const checked = lab.inPod([
        process.execPath,
        join(PROJECT_ROOT, 'dist/cli/main.js'),
        'capture-rules',
        '--proxy-uid',
        String(PROXY_UID),
        '--transparent-port',
        String(TRANSPARENT_PORT),
        '--check',
      ]);
      const appliedHash = /^ok (sha256:[0-9a-f]{64})$/m.exec(checked.stdout)?.[1];
      t.ok(appliedHash, `capture-rules --check: ${checked.stdout}${checked.stderr}`);

      await t.test('the claim: transparent, the hash capture-rules applied, complete', async (t) => {
        const view = await waitUntil(
          async () => {
            const v = await captureView(lab);
            return v.checks.passed >= 2 ? v : false;
          },
          { what: 'two passed checks', attempts: 100, intervalMs: 200 },
        );
        t.match(view, { mode: 'transparent', ruleSetHash: appliedHash, egressComplete: true });
        t.equal(view.checks.failed, 0);
        const capture = egressAnnotations(await lab.proxy.provenance())['capture'];
        t.match(capture, { mode: 'transparent', ruleSetHash: appliedHash, egressComplete: true });
        t.match(await lab.proxy.metrics(), /provenance_proxy_capture_egress_complete 1/);
      });

      await t.test(
        'enforce: TLS, HTTP and blind transparent connections refused before any byte goes upstream',
        async (t) => {
          const sentinel = await startSentinel(lab, [9443, 9080, 9081], t);
          const tls = lab.build([
            'curl',
            '-sS',
            '-m',
            '5',
            '--cacert',
            lab.proxy.trust.bundlePath,
            '--resolve',
            `other.test:9443:${lab.registryIp}`,
            'https://other.test:9443/',
          ]);
          t.not(tls.status, 0, 'the TLS connection is closed');
          const plain = lab.build([
            'curl',
            '-sS',
            '-m',
            '5',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            `http://${lab.registryIp}:9080/`,
          ]);
          t.equal(plain.stdout, '403', plain.stderr);
          sendAsBuild(lab, lab.registryIp, 9081, 'hello, not a protocol the proxy knows\n');
          // The sentinel works: the proxy's own UID is not redirected and reaches it.
          lab.inPod([
            'setpriv',
            `--reuid=${PROXY_UID}`,
            `--regid=${PROXY_UID}`,
            '--clear-groups',
            'sh',
            '-c',
            `printf control | socat -t 1 - TCP:${lab.registryIp}:9081`,
          ]);
          await waitUntil(async () => (await sentinel.seen()).includes('control'), {
            what: 'the control connection',
            attempts: 50,
            intervalMs: 100,
          });
          t.equal(
            (await sentinel.seen()).trim(),
            'conn 9081\ncontrol',
            'nothing but the control reached the destination',
          );

          const expected = [
            { hostname: 'other.test', port: 9443, capturedBy: 'transparent-tls', verdict: 'refuse' },
            { hostname: lab.registryIp, port: 9080, capturedBy: 'transparent-http', verdict: 'refuse' },
            { hostname: lab.registryIp, port: 9081, capturedBy: 'transparent-blind', verdict: 'refuse' },
          ];
          const lines = await waitUntil(
            async () => {
              const found = await journalKinds(lab.proxy, 'egress.policy');
              return found.length >= 3 ? found : false;
            },
            { what: 'three egress.policy lines', attempts: 100, intervalMs: 100 },
          );
          for (const line of expected) {
            const found = lines.find((l) => (l as { capturedBy?: string }).capturedBy === line.capturedBy);
            t.match(
              found,
              { ...line, rule: 'egress-policy=enforce', at: Number },
              `journaled: ${line.capturedBy}`,
            );
            t.equal(
              await policyDecisionCount(lab.proxy, 'refuse', line.capturedBy),
              1,
              `counted: ${line.capturedBy}`,
            );
          }
          const served = JSON.parse((await lab.proxy.control('/v1/egress/decisions')).body) as {
            destinations: { destination: string }[];
          };
          const statement = egressAnnotations(await lab.proxy.provenance())['policyDecisions'] as {
            destinations: { destination: string }[];
            refused: number;
          };
          for (const destination of ['other.test:9443', `${lab.registryIp}:9080`, `${lab.registryIp}:9081`]) {
            t.ok(
              served.destinations.some((d) => d.destination === destination),
              `served: ${destination}`,
            );
            t.ok(
              statement.destinations.some((d) => d.destination === destination),
              `in the statement: ${destination}`,
            );
          }
          t.equal(statement.refused, 3);
        },
      );

      await t.test(
        'a forged canary: through the rules it is an anomaly, straight to the port it is refused; neither is a check',
        async (t) => {
          const rules = captureRuleSet({
            proxyUid: PROXY_UID,
            transparentPort: TRANSPARENT_PORT,
            resolvers: [lab.registryIp],
          });
          t.equal(rules.hash, appliedHash, 'the test computes the same rule set');
          const before = await captureView(lab);
          sendAsBuild(lab, CANARY_ADDRESS, rules.canary.port, `PPCANARY1 ${rules.hash} ${'0'.repeat(32)}\n`);
          sendAsBuild(lab, '127.0.0.1', TRANSPARENT_PORT, `PPCANARY1 ${rules.hash} ${'0'.repeat(32)}\n`);
          const after = await waitUntil(
            async () => {
              const v = await captureView(lab);
              return v.forgedCanaries > before.forgedCanaries ? v : false;
            },
            { what: 'the forged canary recorded', attempts: 50, intervalMs: 100 },
          );
          t.equal(
            after.forgedCanaries,
            before.forgedCanaries + 1,
            'only the one through the rules reached the canary',
          );
          t.ok(after.anomalies.some((a) => a.code === 'capture_canary_forged'));
          t.equal(after.checks.failed, 0, 'a forgery is not a check');
          t.match(
            await lab.proxy.metrics(),
            /connections_refused_total\{cause="destination_is_proxy"\} [1-9]/,
          );
        },
      );

      await t.test(
        'the rules flushed mid-build: the next check fails, the claim is withdrawn, an anomaly recorded',
        async (t) => {
          t.equal(lab.inPod(['iptables', '-t', 'nat', '-F', 'PP_OUTPUT']).status, 0);
          const view = await waitUntil(
            async () => {
              const v = await captureView(lab);
              return v.checks.failed > 0 ? v : false;
            },
            { what: 'a failed check', attempts: 100, intervalMs: 200 },
          );
          t.equal(view.egressComplete, false);
          t.ok(view.anomalies.some((a) => a.code === 'capture_check_failed'));
          const capture = egressAnnotations(await lab.proxy.provenance())['capture'];
          t.match(capture, { egressComplete: false, notComplete: /check failed/ });
          t.match(await lab.proxy.metrics(), /provenance_proxy_capture_egress_complete 0/);
          t.ok(
            (await journalKinds(lab.proxy, 'capture.check')).some((c) => (c as { ok: boolean }).ok === false),
            'journaled',
          );
        },
      );
    },
  );

  t.test(
    'audit flags a transparent request and lets it through; rules re-applied for another UID: the exemption probe comes back, the check fails',
    async (t) => {
      const lab = await startPodLab('claim-uid', (fn) => t.teardown(fn), {
        proxyArgs: [
          '--capture-check-interval',
          '2s',
          '--egress-policy',
          'audit',
          '--egress-allow',
          'registry.test',
        ],
      });
      await waitUntil(async () => (await captureView(lab)).egressComplete, {
        what: 'the claim',
        attempts: 100,
        intervalMs: 200,
      });
      // Audit on the transparent path: the request reaches its destination, and is flagged.
      const sentinel = await startSentinel(lab, [9080], t);
      lab.build(['curl', '-sS', '-m', '3', '-o', '/dev/null', `http://${lab.registryIp}:9080/audited`]);
      await waitUntil(async () => (await sentinel.seen()).includes('GET /audited'), {
        what: 'the audited request at its destination',
        attempts: 50,
        intervalMs: 100,
      });
      const flagged = await waitUntil(
        async () => {
          const found = await journalKinds(lab.proxy, 'egress.policy');
          return found.length > 0 ? found : false;
        },
        { what: 'the flag journaled', attempts: 50, intervalMs: 100 },
      );
      t.match(flagged, [
        { hostname: lab.registryIp, port: 9080, capturedBy: 'transparent-http', verdict: 'flag' },
      ]);
      t.equal(await policyDecisionCount(lab.proxy, 'flag', 'transparent-http'), 1);
      t.match(egressAnnotations(await lab.proxy.provenance())['policyDecisions'], {
        mode: 'audit',
        flagged: 1,
        destinations: [{ destination: `${lab.registryIp}:9080`, flagged: 1 }],
      });
      // Exempting the build's UID instead: the proxy's canary now comes back through the catch-all.
      const reapplied = lab.inPod([
        process.execPath,
        join(PROJECT_ROOT, 'dist/cli/main.js'),
        'capture-rules',
        '--proxy-uid',
        '1000',
        '--transparent-port',
        String(TRANSPARENT_PORT),
        '--apply',
      ]);
      t.equal(reapplied.status, 0, reapplied.stderr);
      const failed = await waitUntil(
        async () => {
          const checks = (await journalKinds(lab.proxy, 'capture.check')) as {
            ok: boolean;
            reason?: string;
          }[];
          return checks.find((c) => !c.ok) ?? false;
        },
        { what: 'a failed check', attempts: 100, intervalMs: 200 },
      );
      t.equal(failed.reason, 'proxy_uid_not_exempt');
      t.equal((await captureView(lab)).egressComplete, false);
    },
  );

  t.test(
    'rules made for another configuration: the canary never comes back, and forged canaries do not make the claim',
    async (t) => {
      // The proxy reads resolvers capture-rules did not: it expects another rule set, as it would
      // with rules applied for another UID or port.
      const dir = await makeTempDir('claim-resolv');
      t.teardown(() => dir.remove());
      await chmod(dir.path, 0o755);
      const other = join(dir.path, 'resolv.conf');
      await writeFile(other, 'nameserver 198.51.100.53\n', { mode: 0o644 });
      const lab = await startPodLab('claim-mismatch', (fn) => t.teardown(fn), {
        proxyArgs: ['--capture-resolv-conf', other, '--capture-check-interval', '2s'],
      });
      const expected = captureRuleSet({
        proxyUid: PROXY_UID,
        transparentPort: TRANSPARENT_PORT,
        resolvers: ['198.51.100.53'],
      });
      sendAsBuild(
        lab,
        CANARY_ADDRESS,
        expected.canary.port,
        `PPCANARY1 ${expected.hash} ${'1'.repeat(32)}\n`,
      );
      sendAsBuild(lab, '127.0.0.1', TRANSPARENT_PORT, `PPCANARY1 ${expected.hash} ${'1'.repeat(32)}\n`);
      const view = await waitUntil(
        async () => {
          const v = await captureView(lab);
          return v.forgedCanaries > 0 && v.checks.failed > 0 ? v : false;
        },
        { what: 'the forgery and a failed check', attempts: 100, intervalMs: 200 },
      );
      t.equal(view.checks.passed, 0, 'no check passed');
      t.equal(view.egressComplete, false);
      t.match(egressAnnotations(await lab.proxy.provenance())['capture'], {
        mode: 'transparent',
        egressComplete: false,
      });
    },
  );
}
