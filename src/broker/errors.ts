import { ProvenanceProxyError } from '../errors.js';

/**
 * The broker could not get credentials for a request. Messages name the registry and what
 * failed, never a credential or a token: they reach the client (502) and the logs.
 */
export class BrokerError extends ProvenanceProxyError {}

/** `--registry-auth` is not a Docker config.json the broker can use. */
export class RegistryAuthFileError extends BrokerError {
  constructor(detail: string) {
    super('ERR_REGISTRY_AUTH_FILE', `--registry-auth: ${detail}`);
  }
}

/** The registry's challenge or its token service did not give what the request needs. */
export class TokenUnavailableError extends BrokerError {
  constructor(registry: string, detail: string) {
    super('ERR_REGISTRY_TOKEN', `no registry token for ${registry}: ${detail}`);
  }
}
