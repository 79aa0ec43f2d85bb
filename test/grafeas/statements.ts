/** Realistic statements and signed reports for the Grafeas tests, signed by the project's own signer. */
import { createHash } from 'node:crypto';
import {
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  SLSA_PROVENANCE_V1,
} from '../../src/provenance/statement-types.js';
import type { SignedReport } from '../../src/reporters/sink.js';
import { createEphemeralSigner } from '../../src/signing/key-signer.js';

export const BUILDER_ID = 'https://provenance-proxy.dev/builder@v0.1.0';

export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function statementFor(
  images: readonly string[],
  opts: { invocationId?: string; builderId?: string } = {},
): InTotoStatement {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: images.map((image) => ({
      name: image,
      digest: { sha256: digestOf(image) },
      annotations: { tags: ['v1', 'latest'] },
    })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: 'https://provenance-proxy.dev/buildtypes/observed-egress/v1',
        externalParameters: { pod: { namespace: 'ci', name: 'build-42', uid: '0f0e' }, taskRun: 'build-42' },
        internalParameters: { configDigest: `sha256:${digestOf('config')}` },
        resolvedDependencies: [
          {
            uri: `registry.test:5000/base/alpine@sha256:${digestOf('alpine')}`,
            digest: { sha256: digestOf('alpine') },
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            annotations: { verified: true, size: 1234 },
          },
          { uri: 'https://dl.example.test/tool.tar.gz', digest: { sha256: digestOf('tool') } },
        ],
      },
      runDetails: {
        builder: { id: opts.builderId ?? BUILDER_ID, version: { 'provenance-proxy': '0.1.0' } },
        metadata: {
          invocationId: opts.invocationId ?? 'ci/build-42/0f0e',
          startedOn: '2026-11-23T08:39:39.250Z',
          finishedOn: '2026-11-23T08:40:01Z',
        },
        byproducts: [{ name: 'egress', annotations: { hosts: ['registry.test:5000'], blocked: 0 } }],
      },
    },
  };
}

const signer = createEphemeralSigner({ keyid: 'test-key' });

export async function signedReport(
  reportId: string,
  statement: InTotoStatement,
  kind: 'image' | 'build' = 'build',
): Promise<SignedReport> {
  const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'));
  return { reportId, kind, statement, envelope };
}

export const testSigner = signer;
