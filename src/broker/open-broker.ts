import type { Logger } from 'pino';
import { CredentialBroker } from './credential-broker.js';
import { CredentialSource } from './credential-source.js';
import { OwnClient } from './own-client.js';

/** How often the credentials file is checked for a change (a projected Secret updates within a minute). */
const AUTH_FILE_POLL_MS = 1000;

export interface OpenBroker {
  readonly broker: CredentialBroker;
  close(): void;
}

/** The broker for `--registry-auth FILE`, trusting what upstream TLS trusts. Throws if the file is unusable. */
export function openCredentialBroker(
  path: string,
  trustedRoots: readonly string[],
  logger: Logger,
): OpenBroker {
  const source = new CredentialSource(path, logger, AUTH_FILE_POLL_MS);
  const client = new OwnClient(trustedRoots);
  logger.info({ registries: source.registries }, 'presenting registry credentials for the build');
  return {
    broker: new CredentialBroker(source, client),
    close() {
      source.close();
      client.close();
    },
  };
}
