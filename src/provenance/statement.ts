import { ProvenanceProxyError } from '../errors.js';
import { sha256Hex, tryParseDigest } from '../oci/digest.js';
import { formatDigestReference, formatRepository } from '../oci/reference.js';
import { type BuildRecord, imageKey } from '../record/build-record.js';
import { type ResolvedImage, resolveImages } from '../record/resolve-images.js';
import { dedupeArtifacts, type ResolvedInputs, resolveInputs } from '../record/resolve-inputs.js';
import type { CaptureSummary } from './capture-summary.js';
import type { EgressDecisionsSummary } from './egress-decisions.js';
import type { EgressSummary } from './egress-summary.js';
import { boundStatement } from './statement-bounds.js';
import {
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  type ResourceDescriptor,
  SLSA_PROVENANCE_V1,
  type SlsaProvenanceV1,
} from './statement-types.js';

/**
 * BuildRecord → in-toto Statement v1 with a SLSA Provenance v1 predicate. Pure and
 * deterministic: the same record and context give the same bytes. Every field is documented
 * in docs/provenance.md; change both together.
 */

/** What this project means by a build observed from its egress. Versioned: a new meaning is a new URI. */
export const BUILD_TYPE = 'https://provenance-proxy.dev/buildtypes/egress-observed/v1';
/** URNs naming the byproducts that are summaries rather than artifacts (in-toto needs a uri or a digest). */
export const BYPRODUCT_URNS = Object.freeze({
  egress: 'urn:provenance-proxy:byproduct:egress-summary',
  mismatches: 'urn:provenance-proxy:byproduct:digest-disagreements',
  anomalies: 'urn:provenance-proxy:byproduct:oci-anomalies',
  pushRefusals: 'urn:provenance-proxy:byproduct:push-refusals',
});

/** The build as the platform identifies it (downward API, environment). Absent parts are null. */
export interface BuildIdentity {
  readonly namespace: string | null;
  readonly podName: string | null;
  readonly podUid: string | null;
  /** Build, TaskRun or job id the platform gives the pod. */
  readonly buildId: string | null;
  /** Further identifying values (pipeline, TaskRun name, …), recorded as given. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface StatementContext {
  /** `runDetails.builder.id`: a URI naming this proxy deployment. */
  readonly builderId: string;
  /** The proxy's version, recorded as `builder.version["provenance-proxy"]`. */
  readonly builderVersion: string;
  readonly build: BuildIdentity;
  /** `sha256:<hex>` of the proxy's effective configuration. */
  readonly proxyConfigDigest: string;
  /** The interception policy in force (intercept/tunnel patterns …), recorded as given. */
  readonly policy?: Readonly<Record<string, unknown>>;
  readonly invocationId: string;
  /** Epoch milliseconds. */
  readonly startedOn: number;
  /** Epoch milliseconds; absent until the build is finalized. */
  readonly finishedOn?: number | null;
  readonly egress: EgressSummary;
  /** How egress was captured and whether it is claimed complete (egress-summary `capture`). */
  readonly capture?: CaptureSummary;
  /** What the egress policy flagged or refused (egress-summary `policyDecisions`). */
  readonly egressDecisions?: EgressDecisionsSummary;
}

/** A statement context that breaks its rules: a bug in the caller's wiring, found at start-up. */
export class StatementContextError extends ProvenanceProxyError {
  readonly field: string;
  constructor(field: string, rule: string) {
    super('ERR_PROVENANCE_CONTEXT', `invalid provenance context ${field}: ${rule}`);
    this.field = field;
  }
}

/** Checks a context once (at start-up and at finalize); returns it frozen. */
export function validateStatementContext(context: StatementContext): StatementContext {
  if (!isAbsoluteUri(context.builderId))
    throw new StatementContextError('builderId', 'must be an absolute URI');
  if (context.builderVersion.length === 0)
    throw new StatementContextError('builderVersion', 'must not be empty');
  const configDigest = tryParseDigest(context.proxyConfigDigest);
  if (configDigest === null || configDigest.algorithm !== 'sha256') {
    throw new StatementContextError('proxyConfigDigest', 'must be sha256:<64 hex>');
  }
  if (context.invocationId.length === 0) throw new StatementContextError('invocationId', 'must not be empty');
  if (!Number.isFinite(context.startedOn))
    throw new StatementContextError('startedOn', 'must be epoch milliseconds');
  if (context.finishedOn != null && !(context.finishedOn >= context.startedOn)) {
    throw new StatementContextError('finishedOn', 'must be epoch milliseconds, not before startedOn');
  }
  return Object.freeze({ ...context });
}

export interface BuildStatementOptions {
  /**
   * Also list index children pushed by this build as subjects of their own (annotated with their
   * index), for verifiers that look up a platform-specific digest. Off by default: the issue's
   * rule is that children are linked under their index, not separate outputs.
   */
  readonly childrenAsSubjects?: boolean;
}

/** The complete build statement: every acknowledged output, every input. */
export function buildStatement(
  record: BuildRecord,
  context: StatementContext,
  options: BuildStatementOptions = {},
): InTotoStatement {
  const images = resolveImages(record);
  const byKey = new Map(images.map((image) => [image.key, image]));
  const subjects: ResourceDescriptor[] = [];
  for (const image of images) {
    if (image.role === 'output') subjects.push(subjectOf(image));
    else if (image.role === 'child' && options.childrenAsSubjects)
      subjects.push(childSubjectOf(image, byKey));
  }
  return statement(subjects, record, context, images);
}

/**
 * A statement about one image, sent as soon as its push is acknowledged: one subject, the inputs
 * known so far. null when the image is not (or not yet) a build output of this record.
 */
export function imageStatement(
  record: BuildRecord,
  context: StatementContext,
  image: { readonly registry: string; readonly repository: string; readonly digest: string },
  /** Also a child of a pushed index (its own statement, for verifiers that check each platform image). */
  orChild = false,
): InTotoStatement | null {
  const images = resolveImages(record);
  const found = images.find(
    (candidate) =>
      candidate.registry === image.registry.toLowerCase() &&
      candidate.repository === image.repository &&
      candidate.digest === image.digest,
  );
  if (found === undefined) return null;
  if (found.role !== 'output' && !(orChild && found.role === 'child')) return null;
  return statement([subjectOf(found)], record, context, images);
}

function statement(
  subject: ResourceDescriptor[],
  record: BuildRecord,
  context: StatementContext,
  images: readonly ResolvedImage[],
): InTotoStatement {
  const inputs = resolveInputs(record);
  const build = context.build;
  const predicate: SlsaProvenanceV1 = {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        build: {
          namespace: build.namespace,
          podName: build.podName,
          podUid: build.podUid,
          buildId: build.buildId,
          ...(build.labels && Object.keys(build.labels).length > 0
            ? { labels: sortedRecord(build.labels) }
            : {}),
        },
      },
      internalParameters: {
        proxyConfigDigest: context.proxyConfigDigest,
        ...(context.policy ? { policy: context.policy } : {}),
      },
      resolvedDependencies: dependenciesOf(inputs),
    },
    runDetails: {
      builder: { id: context.builderId, version: { 'provenance-proxy': context.builderVersion } },
      metadata: {
        invocationId: context.invocationId,
        startedOn: isoTime(context.startedOn),
        ...(context.finishedOn != null ? { finishedOn: isoTime(context.finishedOn) } : {}),
      },
      byproducts: byproductsOf(record, context, images),
    },
  };
  // Bounded by construction: a build decides how many hosts, tags and inputs it has, never how large its report is.
  return boundStatement({
    _type: IN_TOTO_STATEMENT_V1,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate,
  });
}

function subjectOf(image: ResolvedImage): ResourceDescriptor {
  const annotations: Record<string, unknown> = {
    tags: image.tags,
    kind: image.kind,
    registry: image.registry,
    registryDigest: image.registryDigest,
    digestAgreement: image.agreement,
    blobs: blobSummary(image),
  };
  if (image.artifactType !== null) annotations['artifactType'] = image.artifactType;
  if (image.children.length > 0) {
    annotations['children'] = image.children.map((child) => ({
      digest: child.digest,
      platform: child.platform,
      pushed: child.pushed,
    }));
  }
  if (image.attachments.length > 0) annotations['attachments'] = image.attachments;
  if (image.movedTags.length > 0) annotations['movedTags'] = image.movedTags;
  if (image.unparsed !== null) annotations['unparsed'] = image.unparsed;
  if (image.deleted) annotations['deleted'] = true;
  return {
    name: formatRepository(image.registry, image.repository),
    digest: digestSet(image.digest),
    ...(image.mediaType !== null ? { mediaType: image.mediaType } : {}),
    annotations,
  };
}

function childSubjectOf(image: ResolvedImage, byKey: ReadonlyMap<string, ResolvedImage>): ResourceDescriptor {
  const base = subjectOf(image);
  const parentTags = image.parents.flatMap(
    (parent) => byKey.get(imageKey(image.registry, image.repository, parent))?.tags ?? [],
  );
  return {
    ...base,
    annotations: {
      ...base.annotations,
      role: 'index-child',
      indexes: image.parents,
      indexTags: [...new Set(parentTags)].sort(),
    },
  };
}

function blobSummary(image: ResolvedImage): Record<string, unknown> {
  const count = (disposition: string) => image.blobs.filter((b) => b.disposition === disposition).length;
  const summary: Record<string, unknown> = {
    uploaded: count('uploaded'),
    mounted: count('mounted'),
    present: count('present'),
    unaccounted: image.blobs.filter((b) => b.disposition === 'unaccounted').map((b) => b.digest),
  };
  const problems = image.blobs.filter((b) => b.uploadProblem !== undefined);
  if (problems.length > 0)
    summary['uploadProblems'] = problems.map((b) => ({ digest: b.digest, problem: b.uploadProblem }));
  return summary;
}

function dependenciesOf(inputs: ResolvedInputs): ResourceDescriptor[] {
  const dependencies: ResourceDescriptor[] = [];
  for (const manifest of inputs.manifests) {
    const annotations: Record<string, unknown> = {
      kind: 'oci-manifest',
      manifestKind: manifest.kind,
      tags: manifest.tags,
      verification: manifest.verification,
      blobs: manifest.blobs,
    };
    if (manifest.requestedDigests.length > 0) annotations['requestedDigests'] = manifest.requestedDigests;
    if (manifest.parents.length > 0) annotations['indexes'] = manifest.parents;
    dependencies.push({
      uri: formatDigestReference(manifest.registry, manifest.repository, manifest.digest),
      digest: digestSet(manifest.digest),
      ...(manifest.mediaType !== null ? { mediaType: manifest.mediaType } : {}),
      annotations,
    });
  }
  for (const blob of inputs.looseBlobs) {
    dependencies.push({
      uri: formatDigestReference(blob.registry, blob.repository, blob.digest),
      // A ranged read of part of the blob computed nothing: the digest is the one asked for,
      // and the annotations say the proxy did not verify it.
      digest: digestSet(blob.computedDigest ?? blob.digest),
      annotations: {
        kind: 'oci-blob',
        verification: blob.verification,
        size: blob.size,
        ...(blob.partial ? { fetched: 'partial' } : {}),
      },
    });
  }
  for (const download of inputs.downloads) {
    dependencies.push({
      uri: download.url,
      digest: digestSet(download.sha256),
      ...(download.contentType !== null ? { mediaType: download.contentType } : {}),
      annotations: {
        kind: 'download',
        method: download.method,
        status: download.status,
        size: download.size,
        count: download.count,
      },
    });
  }
  return dependencies;
}

function byproductsOf(
  record: BuildRecord,
  context: StatementContext,
  images: readonly ResolvedImage[],
): ResourceDescriptor[] {
  const byproducts: ResourceDescriptor[] = [
    {
      name: 'egress-summary',
      uri: BYPRODUCT_URNS.egress,
      annotations: {
        hosts: context.egress.hosts,
        otherHosts: context.egress.otherHosts,
        unobservedTunnels: context.egress.unobservedTunnels,
        otherTunnels: context.egress.otherTunnels,
        blockedRequests: context.egress.blockedRequests,
        ...(context.capture ? { capture: context.capture } : {}),
        ...(context.egressDecisions ? { policyDecisions: context.egressDecisions } : {}),
      },
    },
  ];
  for (const image of images) {
    if (image.role !== 'attachment') continue;
    byproducts.push({
      name: 'attachment',
      uri: formatDigestReference(image.registry, image.repository, image.digest),
      digest: digestSet(image.digest),
      ...(image.mediaType !== null ? { mediaType: image.mediaType } : {}),
      annotations: {
        attachedTo: image.attachedTo,
        tags: image.tags,
        kind: image.kind,
        ...(image.artifactType !== null ? { artifactType: image.artifactType } : {}),
      },
    });
  }
  for (const upload of dedupeArtifacts(record.uploads)) {
    byproducts.push({
      name: 'upload',
      uri: upload.url,
      digest: digestSet(upload.sha256),
      annotations: {
        kind: 'upload',
        method: upload.method,
        status: upload.status,
        size: upload.size,
        count: upload.count,
      },
    });
  }
  if (record.mismatches.length > 0) {
    byproducts.push({
      name: 'digest-disagreements',
      uri: BYPRODUCT_URNS.mismatches,
      annotations: {
        disagreements: record.mismatches.map((m) => ({
          context: m.context,
          source: m.source,
          reference: formatDigestReference(m.registry, m.repository, m.observed),
          expected: m.expected,
          observed: m.observed,
        })),
      },
    });
  }
  if (record.anomalies.length > 0) {
    byproducts.push({
      name: 'oci-anomalies',
      uri: BYPRODUCT_URNS.anomalies,
      annotations: {
        anomalies: record.anomalies.map((a) => ({
          code: a.code,
          registry: a.registry,
          repository: a.repository,
          detail: a.detail,
          ...(a.digest === undefined ? {} : { digest: a.digest }),
          ...(a.reference === undefined ? {} : { reference: a.reference }),
        })),
      },
    });
  }
  if (record.pushRefusals.length > 0) {
    byproducts.push({
      name: 'push-refusals',
      uri: BYPRODUCT_URNS.pushRefusals,
      annotations: {
        refusals: record.pushRefusals.map((r) => ({
          registry: r.registry,
          repository: r.repository,
          method: r.method,
          route: r.route,
          reason: r.reason,
        })),
      },
    });
  }
  return byproducts;
}

/** in-toto DigestSets carry bare hex under the algorithm name. */
function digestSet(digest: string): Record<string, string> {
  const hex = sha256Hex(digest);
  if (hex !== null) return { sha256: hex };
  const parsed = tryParseDigest(digest);
  return parsed === null ? {} : { [parsed.algorithm]: parsed.encoded };
}

function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isAbsoluteUri(text: string): boolean {
  try {
    return new URL(text).protocol.length > 1;
  } catch {
    return false;
  }
}
