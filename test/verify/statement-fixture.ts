import { createHash } from 'node:crypto';
import {
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  SLSA_PROVENANCE_V1,
} from '../../src/provenance/statement-types.js';

/** A blob and the minimal in-toto v1 statement with a SLSA v1 predicate whose one subject is that blob. */
export function statementFixture(options: { name?: string; blob?: Buffer; tags?: string[] } = {}): {
  statement: InTotoStatement;
  blob: Buffer;
  hex: string;
  name: string;
} {
  const blob = options.blob ?? Buffer.from(`image manifest ${Math.random()}\n`);
  const hex = createHash('sha256').update(blob).digest('hex');
  const name = options.name ?? 'registry.test:5000/lab/app';
  const statement: InTotoStatement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name, digest: { sha256: hex }, annotations: { tags: options.tags ?? ['v1'] } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: 'https://provenance-proxy.dev/build/v1',
        externalParameters: { pod: { namespace: 'ci', name: 'build-1' } },
        resolvedDependencies: [
          {
            uri: 'registry.test:5000/library/base@sha256:' + '1'.repeat(64),
            digest: { sha256: '1'.repeat(64) },
          },
        ],
      },
      runDetails: {
        builder: { id: 'https://provenance-proxy.dev/proxy@0.1.0' },
        metadata: { invocationId: 'build-1-uid', startedOn: '2026-01-01T00:00:00Z' },
      },
    },
  };
  return { statement, blob, hex, name };
}
