import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../support/free-port.js';
import { httpsRequestOnce } from '../../support/https-request.js';
import { REGISTRY_HOSTNAME } from '../../support/pki.js';
import type { RunningRegistry } from '../../support/registry.js';
import { RegistryClient } from '../../support/registry-client.js';
import { parseRegistryLog } from '../../support/registry-log.js';
import { stopChild } from '../../support/run-command.js';
import { waitUntil } from '../../support/wait-until.js';
import type { PodLab } from './pod-lab.js';

/**
 * The pod lab's registry as a RunningRegistry for the ground-truth helpers
 * (test/support/recorded-vs-registry.ts): its namespace is not routed from the test's, so a
 * socat relay on the test's loopback carries each connection into the registry namespace
 * (`ip netns exec`) to its port 443. Reads go straight to the registry, never through the pod
 * or the proxy. The request log is every docker-registry instance's log in the lab (one
 * storage, several listeners: 443, 5443, an IPv6 one), so blob dispositions see them all.
 */
export async function podRegistryGroundTruth(
  lab: PodLab,
  teardown: (fn: () => Promise<void>) => void,
): Promise<RunningRegistry> {
  const port = await freePort();
  const relay = spawn(
    'socat',
    [
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
      `EXEC:ip netns exec ${lab.registryNs} socat STDIO TCP\\:${lab.registryIp}\\:443`,
    ],
    { stdio: 'ignore' },
  );
  teardown(() => stopChild(relay));
  const host = `${REGISTRY_HOSTNAME}:${port}`;
  const directClient = () => new RegistryClient({ host, ca: lab.ca.caCertPem });
  await waitUntil(
    async () =>
      (await httpsRequestOnce({ url: `https://${host}/v2/`, ca: lab.ca.caCertPem, timeoutMs: 2000 })
        .then((r) => r.status)
        .catch(() => 0)) === 200,
    { what: `relay ${host} into ${lab.registryNs}`, attempts: 100, intervalMs: 100 },
  );
  const logDir = join(lab.dir, 'registry');
  const allEntries = async () => {
    const names = (await readdir(logDir)).filter((name) => name.endsWith('.log')).sort();
    const texts = await Promise.all(names.map((name) => readFile(join(logDir, name), 'utf8')));
    return texts.flatMap((text) => parseRegistryLog(text));
  };
  return {
    name: 'pod-registry',
    host,
    port,
    auth: { kind: 'none' },
    credentials: undefined,
    storageDir: lab.storageDir,
    logPath: join(logDir, 'registry-443.log'),
    directClient,
    async requestLog() {
      const marker = randomBytes(8).toString('hex');
      await directClient().request({ path: `/v2/?log-barrier=${marker}` });
      return waitUntil(
        async () => {
          const entries = await allEntries();
          return entries.some((entry) => entry.uri.includes(`log-barrier=${marker}`))
            ? entries.filter((entry) => !entry.uri.includes('log-barrier='))
            : undefined;
        },
        { what: `the pod registry to log request ${marker}`, attempts: 50, intervalMs: 50 },
      );
    },
    stop: () => stopChild(relay),
  };
}
