import type { Logger } from 'pino';
import { type AttachedAttestation, AttestationSink } from '../attest/attestation-sink.js';
import type { CredentialBroker } from '../broker/credential-broker.js';
import type { OwnClient } from '../broker/own-client.js';
import type { RunOptions } from '../config/options.js';
import { FileSink } from '../reporters/file-sink.js';
import { GrafeasSink } from '../reporters/grafeas-sink.js';
import type { ProvenanceSink } from '../reporters/sink.js';

/** The proxy's own way to registries: its client, and the broker when it holds credentials. */
export interface RegistryAccess {
  readonly client: OwnClient;
  readonly broker: CredentialBroker | null;
}

/** The sinks the options name, in delivery order: registry attestations, a directory, Grafeas. */
export async function openSinks(
  options: RunOptions,
  logger: Logger,
  upstreamCa: readonly string[],
  signerPublicKeyPem: string,
  registryAccess: RegistryAccess | null,
  attached: (attachment: AttachedAttestation) => Promise<void>,
): Promise<ProvenanceSink[]> {
  const sinks: ProvenanceSink[] = [];
  if (options.attachAttestations && registryAccess !== null)
    sinks.push(new AttestationSink(registryAccess.client, registryAccess.broker, attached));
  if (options.provenanceDir) sinks.push(await FileSink.open({ directory: options.provenanceDir, logger }));
  if (options.grafeasUrl && options.grafeasProject) {
    sinks.push(
      new GrafeasSink({
        url: options.grafeasUrl,
        project: options.grafeasProject,
        tokenFile: options.grafeasTokenFile,
        signerPublicKeyPem,
        ...(upstreamCa.length > 0 ? { ca: upstreamCa } : {}),
        logger,
      }),
    );
  }
  return sinks;
}
