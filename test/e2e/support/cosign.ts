import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CommandResult, runCommand } from '../../support/run-command.js';
import { makeTempDir, removeTempDir } from '../../support/temp-dir.js';
import type { StoredEnvelope } from './store-reader.js';

/**
 * `cosign verify-blob-attestation` of an envelope against an artifact's bytes (its sha256 must be a
 * subject digest), offline: a scratch HOME, the transparency log ignored, and
 * SIGSTORE_REKOR_PUBLIC_KEY set so cosign does not fetch Sigstore's trusted root.
 */
export async function cosignVerifiesAttestation(
  cosign: string,
  publicKeyPath: string,
  envelope: StoredEnvelope,
  artifact: Buffer,
): Promise<CommandResult> {
  const home = (await makeTempDir('e2e-cosign')).path;
  try {
    const envelopePath = join(home, 'envelope.json');
    const artifactPath = join(home, 'artifact');
    await writeFile(envelopePath, JSON.stringify(envelope));
    await writeFile(artifactPath, artifact);
    return await runCommand(
      cosign,
      [
        'verify-blob-attestation',
        '--key',
        publicKeyPath,
        '--signature',
        envelopePath,
        '--type',
        'slsaprovenance1',
        '--insecure-ignore-tlog=true',
        artifactPath,
      ],
      {
        timeoutMs: 60_000,
        env: {
          ...process.env,
          HOME: home,
          TUF_ROOT: join(home, 'tuf'),
          SIGSTORE_REKOR_PUBLIC_KEY: publicKeyPath,
        },
      },
    );
  } finally {
    await removeTempDir(home);
  }
}
