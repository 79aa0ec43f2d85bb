import { createHash } from 'node:crypto';
import {
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  SLSA_PROVENANCE_V1,
} from '../../../src/provenance/statement-types.js';
import type { SignedReport } from '../../../src/reporters/sink.js';

/** A well-formed signed report for outbox tests; the signature bytes are placeholders, never verified here. */
export function sampleReport(reportId: string): SignedReport {
  const digest = createHash('sha256').update(reportId).digest('hex');
  const statement: InTotoStatement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: 'registry.test:5000/team/app', digest: { sha256: digest } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: { buildType: 'https://example.test/build/v1', externalParameters: { pod: 'build-1' } },
      runDetails: { builder: { id: 'https://example.test/proxy@test' } },
    },
  };
  const payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  return {
    reportId,
    kind: 'image',
    statement,
    envelope: { payloadType: IN_TOTO_PAYLOAD_TYPE, payload, signatures: [{ keyid: 'test', sig: 'AAAA' }] },
  };
}
