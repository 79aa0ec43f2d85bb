import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { createTestCa } from './pki.js';
import {
  type CommandOptions,
  type CommandResult,
  runChecked,
  runCommand,
  startService,
  stopChild,
} from './run-command.js';
import { PROJECT_TOOLS_BIN } from './tools.js';

/**
 * A real Kubernetes control plane on loopback: etcd and kube-apiserver v1.37.2 built by
 * scripts/build-k8s-testbed.sh into .tools/bin. There is no kubelet: pods are admitted and
 * stored, never run. Admission (mutating webhooks, ValidatingAdmissionPolicy) is the real one.
 */
const BINARIES = ['etcd', 'kube-apiserver', 'kubectl'] as const;

/** Why the test bed cannot start here (for a skip message), or undefined when it can. */
export function kubeTestBedMissing(): string | undefined {
  // Only the pinned builds: a kubectl on PATH may be any version (or a wrapper).
  const missing = BINARIES.filter((name) => {
    try {
      accessSync(join(PROJECT_TOOLS_BIN, name), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  return missing.length === 0
    ? undefined
    : `${missing.join(', ')} not in .tools/bin: run scripts/install-test-deps.sh (it builds them, 5-10 min cold)`;
}

export const TEKTON_CRD_DIR = join(PROJECT_TOOLS_BIN, '..', 'tekton-crds');

export interface KubeTestBed {
  /** https://127.0.0.1:PORT */
  server: string;
  kubeconfig: string;
  /** Runs the pinned kubectl against this server; never throws. */
  kubectl(args: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** Runs kubectl and throws unless it exits 0. */
  kubectlChecked(args: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** kubectl ... -o json, parsed. */
  getJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T>;
  stop(): Promise<void>;
}

export async function startKubeTestBed(dir: string): Promise<KubeTestBed> {
  const missing = kubeTestBedMissing();
  if (missing !== undefined) throw new Error(missing);
  await mkdir(dir, { recursive: true });
  // Serving certificate for 127.0.0.1 from the suite's test CA; a token file for the client.
  const ca = await createTestCa(join(dir, 'pki'));
  const serviceAccount = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = join(dir, 'pki', 'sa.key');
  const saPub = join(dir, 'pki', 'sa.pub');
  await writeFile(saKey, serviceAccount.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  await writeFile(saPub, serviceAccount.publicKey.export({ format: 'pem', type: 'spki' }));
  const token = `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const tokenFile = join(dir, 'pki', 'tokens.csv');
  await writeFile(tokenFile, `${token},test-admin,1,"system:masters"\n`, { mode: 0o600 });

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children.reverse()) await stopChild(child);
  };
  try {
    const etcd = await startService(
      join(PROJECT_TOOLS_BIN, 'etcd'),
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      {
        logPath: join(dir, 'etcd.log'),
        what: 'etcd /health',
        ready: async () => {
          const response = await fetch(`${etcdUrl}/health`);
          return response.ok && ((await response.json()) as { health?: string }).health === 'true';
        },
        attempts: 100,
        intervalMs: 100,
      },
    );
    children.push(etcd);
    const apiserverLog = join(dir, 'kube-apiserver.log');
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = await startService(
      join(PROJECT_TOOLS_BIN, 'kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${ca.serverCertPath}`,
        `--tls-private-key-file=${ca.serverKeyPath}`,
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        '--service-cluster-ip-range=10.96.0.0/16',
        // Loopback as the advertise address is refused by the endpoint reconciler.
        '--endpoint-reconciler-type=none',
        // No controller manager creates the default ServiceAccount; pods need not reference one.
        '--disable-admission-plugins=ServiceAccount',
        // As on real clusters: privileged pods are for admission to judge, not refused outright.
        '--allow-privileged=true',
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
      ],
      {
        logPath: apiserverLog,
        what: 'kube-apiserver /readyz',
        ready: async () => (await httpsGet(`${server}/readyz`, ca.caCertPem, token)) === 200,
        attempts: 300,
        intervalMs: 200,
      },
    );
    children.push(apiserver);
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'certificate-authority': ca.caCertPath } }],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
        'current-context': 'test',
      }),
      { mode: 0o600 },
    );
    const kubectlBin = join(PROJECT_TOOLS_BIN, 'kubectl');
    const withConfig = (args: readonly string[]) => [`--kubeconfig=${kubeconfig}`, ...args];
    const kubectl = (args: readonly string[], options?: CommandOptions) =>
      runCommand(kubectlBin, withConfig(args), { timeoutMs: 120_000, ...options });
    const kubectlChecked = (args: readonly string[], options?: CommandOptions) =>
      runChecked(kubectlBin, withConfig(args), { timeoutMs: 120_000, ...options });
    return {
      server,
      kubeconfig,
      kubectl,
      kubectlChecked,
      async getJson<T>(args: readonly string[]) {
        return JSON.parse((await kubectlChecked([...args, '-o', 'json'])).stdout) as T;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** GET with the test CA and a bearer token; resolves with the status. */
function httpsGet(url: string, caPem: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
