import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clients } from './clients.js';
import { CommandFailedError } from './run-command.js';

export interface CosignOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `cosign verify-attestation --type slsaprovenance1` offline, as a verifier without a
 * transparency log would run it, with `keyPem` written below `dir`. `clients` must talk to the
 * registry directly (cosign is the verifier, not the build). Never throws for cosign's refusal.
 */
export async function cosignVerifyAttestation(
  clients: Clients,
  dir: string,
  keyPem: string,
  reference: string,
  extraArgs: readonly string[] = [],
): Promise<CosignOutcome> {
  const keyFile = join(dir, `key-${createHash('sha256').update(keyPem).digest('hex').slice(0, 8)}.pub`);
  await writeFile(keyFile, keyPem);
  const trustedRoot = join(dir, 'trusted_root.json');
  // An empty trusted root and --offline: cosign must not reach for Sigstore's TUF repository.
  await writeFile(
    trustedRoot,
    JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' }),
  );
  const args = [
    'verify-attestation',
    '--key',
    keyFile,
    '--type',
    'slsaprovenance1',
    '--insecure-ignore-tlog=true',
    '--offline=true',
    '--trusted-root',
    trustedRoot,
    ...extraArgs,
    reference,
  ];
  try {
    const result = await clients.goTool('cosign', args);
    return { code: result.code, stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    if (error instanceof CommandFailedError)
      return { code: error.result.code, stdout: error.result.stdout, stderr: error.result.stderr };
    throw error;
  }
}
