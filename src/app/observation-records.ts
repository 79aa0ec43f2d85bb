import type { AttachedAttestation } from '../attest/attestation-sink.js';
import type { DestinationRule } from '../errors.js';
import type { EgressAttempt, EgressCapture, TunnelRecord } from '../http/completed-exchange.js';
import type { Journal } from '../journal/journal.js';
import { ANCHOR_KIND } from '../journal/journal-anchor.js';
import type { JournalEntry, JournalReceipt } from '../journal/journal-line.js';
import { decodeOciEvent, isOciEventType } from '../journal/oci-event-records.js';
import {
  type ReadResult,
  type RecordCatalogue,
  type RecordDecoder,
  readRecord,
  versionedKind,
} from '../journal/record-reader.js';
import { expectShape, nested, oneOf, type RecordShape } from '../journal/record-shape.js';
import type { DestinationRefusal } from '../net/destination-policy.js';
import type { OciEvent } from '../oci/events.js';
import { PUSH_ATTEMPT_KIND, PUSH_SETTLED_KIND, type PushAttempt } from '../oci/push-attempts.js';
import type { CaptureCheckLine } from '../provenance/capture-summary.js';
import type { EgressHost } from '../provenance/egress-summary.js';
import type { DsseEnvelope } from '../signing/envelope.js';

/**
 * Every record of the observation journal (`observations.jsonl`), typed and versioned, and the one
 * reader replay uses. To add a kind: one member in ObservationData, its decoder in DECODERS (the
 * compiler asks for it), and a case where replay applies it (observation-replay.ts).
 */
export interface ObservationData {
  /** What the OCI interpreter observed; the line kind is `oci.<event type>`. */
  readonly oci: OciEvent;
  /** A blind tunnel or an upgraded connection closed: bytes the proxy did not observe. */
  readonly 'egress.tunnel': TunnelRecord;
  /** Per-host egress tallies changed since the previous such line. */
  readonly 'egress.hosts': { readonly hosts: readonly EgressHost[] };
  /** The destination policy refused a connection. */
  readonly 'egress.refused': DestinationRefusal & { readonly at: number };
  /** A finalize stamped the build's end (epoch ms). */
  readonly 'build.finalized': { readonly finishedOn: number };
  /** A manifest PUT is about to reach the registry (written ahead, oci/push-attempts.ts). */
  readonly 'push.attempt': PushAttempt;
  /** That attempt's outcome is journaled. */
  readonly 'push.settled': { readonly exchangeId: string };
  /** The attestation sink stored an attestation in a registry. */
  readonly 'attestation.attached': AttachedAttestation;
  /** The signed chain head (journal/journal-anchor.ts). */
  readonly 'journal.anchor': { readonly envelope: DsseEnvelope };
  /** The egress policy flagged or refused an attempt (provenance/egress-decisions.ts). */
  readonly 'egress.policy': EgressAttempt;
  /** A capture check: the canary came back through the rules, or did not (provenance/capture-summary.ts). */
  readonly 'capture.check': CaptureCheckLine;
  /** A connection to the canary destination that was not the proxy's canary. */
  readonly 'capture.forged': { readonly at: number; readonly reason: string };
}

export type ObservationKind = keyof ObservationData;

/**
 * The version each kind is written at. Bumping one: change its number here and the member of
 * ObservationData, and keep a decoder for each older version that turns it into the current data.
 * Every kind is still at 1, the version lines have been written at since the journal began.
 */
export const OBSERVATION_VERSIONS = {
  oci: 1,
  'egress.tunnel': 1,
  'egress.hosts': 1,
  'egress.refused': 1,
  'build.finalized': 1,
  'push.attempt': 1,
  'push.settled': 1,
  'attestation.attached': 1,
  'journal.anchor': 1,
  'egress.policy': 1,
  'capture.check': 1,
  'capture.forged': 1,
} as const satisfies Record<ObservationKind, number>;

/** A record as read: its kind, the version its line was written at, and its data (current shape). */
export type ObservationRecord = {
  readonly [K in ObservationKind]: {
    readonly kind: K;
    readonly version: number;
    readonly data: ObservationData[K];
  };
}[ObservationKind];

/** The decoders of a kind, by the version they read. */
type Decoders<T> = Readonly<Record<number, RecordDecoder<T>>>;

const TUNNEL_FAILURE = nested({ code: 'string', message: 'string' }, true);
const EGRESS_HOST: RecordShape = {
  authority: 'string',
  requests: 'number',
  bytesSent: 'number',
  bytesReceived: 'number',
  failures: 'number',
};
const REFERENCE = nested({ kind: ['tag', 'digest'] });

const DECODERS: { readonly [K in Exclude<ObservationKind, 'oci'>]: Decoders<ObservationData[K]> } = {
  'egress.tunnel': v1((data) =>
    shaped<TunnelRecord>(data, {
      connectionId: 'string',
      authority: 'string',
      bytesFromClient: 'number',
      bytesFromUpstream: 'number',
      startedAt: 'number',
      finishedAt: 'number',
      failure: TUNNEL_FAILURE,
      upgrade: 'string?',
    }),
  ),
  'egress.hosts': v1((data) =>
    shaped<ObservationData['egress.hosts']>(data, {
      hosts: (hosts) => {
        if (!Array.isArray(hosts)) return 'expected array';
        const bad = hosts.findIndex((host) => nested(EGRESS_HOST)(host) !== null);
        return bad === -1 ? null : `[${bad}].${nested(EGRESS_HOST)(hosts[bad])}`;
      },
    }),
  ),
  'egress.refused': v1((data) =>
    shaped<ObservationData['egress.refused']>(data, {
      rule: oneOf<DestinationRule>({ loopback: true, link_local: true, unspecified: true, own_port: true }),
      address: 'string',
      port: 'number',
      at: 'number',
    }),
  ),
  'build.finalized': v1((data) => shaped<ObservationData['build.finalized']>(data, { finishedOn: 'number' })),
  [PUSH_ATTEMPT_KIND]: v1((data) =>
    shaped<PushAttempt>(data, {
      exchangeId: 'string',
      registry: 'string',
      repository: 'string',
      reference: REFERENCE,
      digest: 'string',
      size: 'number',
    }),
  ),
  [PUSH_SETTLED_KIND]: v1((data) => shaped<ObservationData['push.settled']>(data, { exchangeId: 'string' })),
  'attestation.attached': v1((data) =>
    shaped<AttachedAttestation>(data, {
      reportId: 'string',
      registry: 'string',
      repository: 'string',
      subject: 'string',
      tag: 'string',
      manifestDigest: 'string',
      layerDigest: 'string',
      alreadyPresent: 'boolean',
    }),
  ),
  'egress.policy': v1((data) =>
    shaped<EgressAttempt>(data, {
      at: 'number',
      hostname: 'string',
      port: 'number',
      capturedBy: oneOf<EgressCapture>({
        explicit: true,
        connect: true,
        'transparent-tls': true,
        'transparent-http': true,
        'transparent-blind': true,
      }),
      verdict: oneOf<EgressAttempt['verdict']>({ refuse: true, flag: true }),
      rule: 'string',
    }),
  ),
  'capture.check': v1((data) =>
    shaped<CaptureCheckLine>(data, { at: 'number', ok: 'boolean', ruleSetHash: 'string', reason: 'string?' }),
  ),
  'capture.forged': v1((data) =>
    shaped<ObservationData['capture.forged']>(data, { at: 'number', reason: 'string' }),
  ),
  [ANCHOR_KIND]: v1((data) =>
    shaped<ObservationData['journal.anchor']>(data, {
      envelope: nested({ payloadType: 'string', payload: 'string', signatures: 'array' }),
    }),
  ),
};

const OCI_PREFIX = 'oci.';

const catalogue: RecordCatalogue<ObservationRecord> = (name) => {
  if (name.startsWith(OCI_PREFIX)) {
    const type = name.slice(OCI_PREFIX.length);
    if (!isOciEventType(type)) return undefined;
    return { 1: (data) => ({ kind: 'oci', version: 1, data: decodeOciEvent(data, type) }) };
  }
  if (!Object.hasOwn(DECODERS, name)) return undefined;
  const kind = name as keyof typeof DECODERS;
  const decoders: Decoders<unknown> = DECODERS[kind];
  // Each decoder made the data of its own kind; the compiler cannot follow `kind` through the map.
  return Object.fromEntries(
    Object.entries(decoders).map(([version, decode]) => [
      version,
      (data: unknown) => ({ kind, version: Number(version), data: decode(data, name) }) as ObservationRecord,
    ]),
  );
};

/** Reads one line of the observation journal: a typed record, or an ERR_JOURNAL_RECORD_* error value. */
export function readObservation(entry: JournalEntry): ReadResult<ObservationRecord> {
  return readRecord(entry, catalogue);
}

/** The line kind data of `kind` is written under, at the kind's current version. */
export function observationLineKind<K extends ObservationKind>(kind: K, data: ObservationData[K]): string {
  const name = kind === 'oci' ? `${OCI_PREFIX}${(data as OciEvent).type}` : kind;
  return versionedKind(name, OBSERVATION_VERSIONS[kind]);
}

/** Journals one record at its kind's current version; resolves once it is on disk. */
export function appendObservation<K extends ObservationKind>(
  journal: Journal,
  kind: K,
  data: ObservationData[K],
): Promise<JournalReceipt> {
  return journal.append(observationLineKind(kind, data), data);
}

/** One decoder, for version 1. */
function v1<T>(decode: RecordDecoder<T>): Decoders<T> {
  return { 1: decode };
}

function shaped<T>(data: unknown, shape: RecordShape): T {
  expectShape(data, shape);
  return data as T;
}
