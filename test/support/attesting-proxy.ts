import { join } from 'node:path';
import type { AttachedAttestation } from '../../src/attest/attestation-sink.js';
import type { ClientResult, Clients } from './clients.js';
import type { Lab } from './lab.js';
import { type RunningProxy, startProxy } from './proxy.js';

export interface AttestingProxy {
  proxy: RunningProxy;
  /** The lab's clients, routed through this proxy. */
  clients: Clients;
  /** The proxy's signing key, what verifiers are given. */
  publicKeyPem: string;
  /** The `attestation.attached` journal entries (of `repository` when given). */
  attached(repository?: string): Promise<AttachedAttestation[]>;
}

/**
 * A proxy of its own with `--attach-attestations` (and `extraArgs`) for a lab started without
 * one, for attestation tests that put another registry or a fault proxy beside the lab's.
 */
export async function startAttestingProxy(
  lab: Lab,
  teardown: (fn: () => Promise<void>) => void,
  extraArgs: readonly string[] = [],
): Promise<AttestingProxy> {
  const proxy = await startProxy({
    dir: join(lab.dir, 'attesting-proxy'),
    upstreamCaPath: lab.ca.caCertPath,
    extraArgs: ['--attach-attestations', ...extraArgs],
  });
  teardown(() => proxy.stop());
  const clients = lab.clients.withRoute({
    proxyUrl: proxy.url,
    // A getter: a restarted proxy has a new CA.
    get trust() {
      return proxy.trust;
    },
  });
  const { publicKeyPem } = JSON.parse((await proxy.control('/v1/public-key')).body) as {
    publicKeyPem: string;
  };
  return {
    proxy,
    clients,
    publicKeyPem,
    async attached(repository) {
      const journal = JSON.parse((await proxy.control('/v1/observations?limit=1000')).body) as {
        entries: { kind: string; data: AttachedAttestation }[];
      };
      return journal.entries
        .filter((entry) => entry.kind === 'attestation.attached')
        .map((entry) => entry.data)
        .filter((data) => repository === undefined || data.repository === repository);
    },
  };
}

/** The digest a push wrote (skopeo's --digestfile). */
export function pushedDigest(result: ClientResult): string {
  if (result.digest === undefined) throw new Error(`${result.command} wrote no digest`);
  return result.digest;
}
