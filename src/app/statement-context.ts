import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RunOptions } from '../config/options.js';
import type { EgressTally } from '../provenance/egress-summary.js';
import { type StatementContext, validateStatementContext } from '../provenance/statement.js';
import type { Signer } from '../signing/envelope.js';
import { buildIdentityFromEnv } from './build-identity.js';
import type { EgressRecords } from './egress-records.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** What every statement of this invocation says about the builder, its policy and its key. */
export function statementContexts(
  options: RunOptions,
  signer: Signer,
  invocation: { invocationId: string; startedOn: number },
  egress: EgressTally,
  egressRecords: Pick<EgressRecords, 'context'>,
): (finishedOn: number | null) => StatementContext {
  const base = validateStatementContext({
    builderId: options.builderId,
    builderVersion: VERSION,
    build: buildIdentityFromEnv(process.env),
    proxyConfigDigest: configDigest(options),
    policy: {
      intercept: options.intercept.map((p) => p.source),
      tunnel: options.tunnel.map((p) => p.source),
      // Ranges re-opened past the destination policy: a reader sees what the build could reach.
      allowDestination: options.allowDestination.map((c) => c.source),
      ...(options.pushAllow.length > 0 ? { pushAllow: options.pushAllow.map((r) => r.source) } : {}),
      egressPolicy: { mode: options.egressPolicy, allow: options.egressAllow.map((p) => p.source) },
      // An ephemeral key proves nothing beyond this pod; publishing it here lets a reader see that.
      signingKey: {
        keyid: signer.keyid,
        algorithm: signer.algorithm,
        ephemeral: signer.ephemeral,
        ...(signer.ephemeral ? { publicKeyPem: signer.publicKeyPem } : {}),
      },
    },
    invocationId: invocation.invocationId,
    startedOn: invocation.startedOn,
    egress: egress.summary(),
  });
  return (finishedOn) => ({ ...base, finishedOn, egress: egress.summary(), ...egressRecords.context() });
}

/** Digest of the effective configuration, recorded as internalParameters; paths only, never secrets. */
function configDigest(options: RunOptions): string {
  const view = {
    ...options,
    intercept: options.intercept.map((p) => p.source),
    tunnel: options.tunnel.map((p) => p.source),
    pushAllow: options.pushAllow.map((r) => r.source),
  };
  return `sha256:${createHash('sha256').update(JSON.stringify(view)).digest('hex')}`;
}
