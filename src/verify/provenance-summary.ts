import { formatImageName, formatImageReference } from '../oci/reference.js';
import type { DigestSet } from '../provenance/statement-types.js';
import type { VerifiedStatement } from './verify-provenance.js';
import type { VerifyTarget } from './verify-target.js';

export interface ProvenanceSummary {
  readonly source: string;
  readonly subject: { readonly name: string; readonly digest: string; readonly tags: readonly string[] };
  readonly signedBy: { readonly keyid: string; readonly fingerprint: string; readonly publicKey: string };
  readonly builderId: string;
  readonly buildType: string;
  readonly invocationId?: string;
  readonly startedOn?: string;
  readonly finishedOn?: string;
  readonly subjectCount: number;
  readonly inputs: readonly { readonly uri?: string; readonly name?: string; readonly digest?: DigestSet }[];
}

const strings = (value: unknown): string[] => {
  if (typeof value === 'string')
    return value
      .split(',')
      .map((tag) => tag.trim())
      .filter(Boolean);
  if (Array.isArray(value)) return value.filter((tag): tag is string => typeof tag === 'string');
  return [];
};

/** Tags as the proxy annotates a subject (`tags`), with the usual alternatives tolerated. */
function subjectTags(annotations: Record<string, unknown> | undefined): string[] {
  if (annotations === undefined) return [];
  const found = [
    ...strings(annotations.tags),
    ...strings(annotations.tag),
    ...strings(annotations['org.opencontainers.image.ref.name']),
  ];
  return [...new Set(found)];
}

export function summariseVerified(verified: VerifiedStatement, target: VerifyTarget): ProvenanceSummary {
  const { predicate, subject } = verified.statement;
  const metadata = predicate.runDetails.metadata ?? {};
  return {
    source: verified.source,
    subject: {
      name: verified.subject.name ?? formatImageName(target),
      digest: target.digest.value,
      tags: subjectTags(verified.subject.annotations),
    },
    signedBy: { keyid: verified.keyid, fingerprint: verified.key.fingerprint, publicKey: verified.key.label },
    builderId: predicate.runDetails.builder.id,
    buildType: predicate.buildDefinition.buildType,
    ...(typeof metadata.invocationId === 'string' ? { invocationId: metadata.invocationId } : {}),
    ...(typeof metadata.startedOn === 'string' ? { startedOn: metadata.startedOn } : {}),
    ...(typeof metadata.finishedOn === 'string' ? { finishedOn: metadata.finishedOn } : {}),
    subjectCount: subject.length,
    inputs: (Array.isArray(predicate.buildDefinition.resolvedDependencies)
      ? predicate.buildDefinition.resolvedDependencies
      : []
    ).map((dependency) => ({
      ...(typeof dependency.uri === 'string' ? { uri: dependency.uri } : {}),
      ...(typeof dependency.name === 'string' ? { name: dependency.name } : {}),
      ...(dependency.digest !== undefined ? { digest: dependency.digest } : {}),
    })),
  };
}

/** Statement text is signed but still written by someone else: keep terminal control sequences out. */
const printable = (text: string): string => text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');

function formatDigests(digest: DigestSet | undefined): string {
  if (digest === undefined) return '';
  return Object.entries(digest)
    .map(([algorithm, value]) => `${algorithm}:${value}`)
    .join(' ');
}

/** The signature's keyid, when it says something the fingerprint does not. */
const keyidNote = (signedBy: ProvenanceSummary['signedBy']): string =>
  signedBy.keyid !== '' && signedBy.keyid !== signedBy.fingerprint
    ? `, keyid ${printable(signedBy.keyid)}`
    : '';

/** A short human summary of one verified statement. */
export function formatSummary(summary: ProvenanceSummary, target: VerifyTarget): string {
  const lines = [
    `verify: OK ${formatImageReference(target)}`,
    `  source:     ${printable(summary.source)}`,
    `  signed by:  ${summary.signedBy.fingerprint} (${printable(summary.signedBy.publicKey)}${keyidNote(summary.signedBy)})`,
    `  builder:    ${printable(summary.builderId)}`,
    `  build type: ${printable(summary.buildType)}`,
    `  build:      ${printable(summary.invocationId ?? '(no invocationId)')}`,
  ];
  if (summary.startedOn !== undefined || summary.finishedOn !== undefined) {
    lines.push(
      `  ran:        ${printable(summary.startedOn ?? '?')} .. ${printable(summary.finishedOn ?? '(not finished)')}`,
    );
  }
  lines.push(
    `  tags:       ${summary.subject.tags.length > 0 ? printable(summary.subject.tags.join(', ')) : '(none)'}`,
  );
  lines.push(`  subjects:   ${summary.subjectCount} in this statement`);
  lines.push(`  inputs:     ${summary.inputs.length}`);
  for (const input of summary.inputs) {
    const label = input.uri ?? input.name ?? '(unnamed)';
    const digests = formatDigests(input.digest);
    lines.push(
      `    ${printable(label)}${digests && !label.includes(digests) ? `  ${printable(digests)}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
