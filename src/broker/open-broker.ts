import type { Logger } from 'pino';
import { CredentialBroker } from './credential-broker.js';
import { CredentialSource } from './credential-source.js';
import { OwnClient } from './own-client.js';

/** How often the credentials file is checked for a change (a projected Secret updates within a minute). */
const AUTH_FILE_POLL_MS = 1000;

export interface OpenRegistryAccess {
  readonly client: OwnClient;
  /** null without `--registry-auth`: the proxy's own requests then carry no credentials. */
  readonly broker: CredentialBroker | null;
  close(): void;
}

/**
 * The proxy's own way to registries, trusting what upstream TLS trusts: its client, and the
 * credential broker for `--registry-auth FILE` (throws if the file is unusable).
 */
export function openRegistryAccess(
  authFile: string | null,
  trustedRoots: readonly string[],
  logger: Logger,
): OpenRegistryAccess {
  const source = authFile === null ? null : new CredentialSource(authFile, logger, AUTH_FILE_POLL_MS);
  const client = new OwnClient(trustedRoots);
  if (source !== null)
    logger.info({ registries: source.registries }, 'presenting registry credentials for the build');
  return {
    client,
    broker: source === null ? null : new CredentialBroker(source, client),
    close() {
      source?.close();
      client.close();
    },
  };
}
