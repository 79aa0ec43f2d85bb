import { spawn } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { httpsRequestOnce } from './https-request.js';
import { REGISTRY_HOSTNAME, type TestCa } from './pki.js';
import { RegistryClient } from './registry-client.js';
import { stopChild } from './run-command.js';
import { requireTool } from './tools.js';
import { waitUntil } from './wait-until.js';

/** A registry that answers the OCI 1.1 referrers API (test/tools/referrers-registry). */
export interface RunningReferrersRegistry {
  /** What clients address: registry.test:<port>. */
  host: string;
  port: number;
  logPath: string;
  /** A client talking to the registry directly, with the test CA. */
  directClient(): RegistryClient;
  stop(): Promise<void>;
}

/** referrers-registry exited or never answered. */
export class ReferrersRegistryStartError extends Error {
  readonly code = 'ERR_TEST_REFERRERS_REGISTRY_START';
}

/**
 * Starts go-containerregistry's registry with its referrers API on (in memory, no auth), with
 * TLS from the test CA on a free port: the second real registry beside Debian's distribution 2.8,
 * which has no referrers API.
 */
export async function startReferrersRegistry(options: {
  dir: string;
  ca: TestCa;
}): Promise<RunningReferrersRegistry> {
  const binary = requireTool('referrers-registry');
  await mkdir(options.dir, { recursive: true });
  const port = await freePort();
  const host = `${REGISTRY_HOSTNAME}:${port}`;
  const logPath = join(options.dir, 'referrers-registry.log');
  const logFile = await open(logPath, 'a');
  const child = spawn(
    binary,
    [
      '--address',
      `127.0.0.1:${port}`,
      '--tls-cert',
      options.ca.serverCertPath,
      '--tls-key',
      options.ca.serverKeyPath,
    ],
    { stdio: ['ignore', logFile.fd, logFile.fd] },
  );
  await logFile.close();
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    await waitUntil(
      async () => {
        if (exited)
          throw new ReferrersRegistryStartError(
            `referrers-registry exited: ${await readFile(logPath, 'utf8')}`,
          );
        const response = await httpsRequestOnce({
          url: `https://${host}/v2/`,
          ca: options.ca.caCertPem,
          timeoutMs: 2000,
        });
        return response.status === 200;
      },
      { what: `referrers-registry on ${host}`, attempts: 100, intervalMs: 100 },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    host,
    port,
    logPath,
    directClient: () => new RegistryClient({ host, ca: options.ca.caCertPem }),
    stop: () => stopChild(child),
  };
}
