import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { ATTESTATION_SINK_NAME } from '../attest/attestation-sink.js';
import type { Journal } from '../journal/journal.js';
import { reportableOutputs } from '../provenance/reportable.js';
import { buildStatement, imageStatement, type StatementContext } from '../provenance/statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement } from '../provenance/statement-types.js';
import type { BuildRecord } from '../record/build-record.js';
import type { Outbox } from '../reporters/outbox.js';
import type { SignedReport } from '../reporters/sink.js';
import type { DsseEnvelope, Signer } from '../signing/envelope.js';
import type { JournalAnchors } from './journal-anchors.js';
import { appendObservation } from './observation-records.js';
import { buildReportId, childAttestationId, imageReportId } from './report-ids.js';

export interface PublisherOptions {
  readonly record: BuildRecord;
  readonly journal: Journal;
  readonly anchors: JournalAnchors;
  readonly signer: Signer;
  readonly outbox: Outbox;
  readonly sinkNames: readonly string[];
  readonly invocationId: string;
  /** The statement context at a given end (null: the build is still going). */
  readonly context: (finishedOn: number | null) => StatementContext;
  /** The last finalize's stamp that replay found still standing. */
  readonly finishedOn: number | null;
  /** Resolves once every observation taken in is in the record (the recorder's `settled`). */
  readonly settle: () => Promise<void>;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * Stage 3, publish (format → sign → store, as Tekton Chains names them): makes the statements of the
 * record, signs them and hands them to the outbox, which delivers them to every sink. Image reports
 * go out as pushes complete; the build report at each finalize, which also stamps the build's end
 * and anchors the journal.
 */
export interface Publisher {
  /** Reports each image the record holds as ready, once per report id. */
  reportReadyImages(): void;
  /** Settles the record, stamps the end (once per stretch of observations), reports the build, anchors. */
  finalize(): Promise<InTotoStatement>;
  /** The build statement as recorded so far, unsigned. */
  statement(): InTotoStatement;
  /** Signs a statement (a snapshot asked for at /v1/provenance?format=dsse). */
  sign(statement: InTotoStatement): Promise<DsseEnvelope>;
}

export function createPublisher(o: PublisherOptions): Publisher {
  const signingFailures = new Counter({
    name: 'provenance_proxy_signing_failures_total',
    help: 'Statements that could not be made, signed or handed to the outbox, by stage (statement, sign, enqueue)',
    labelNames: ['stage'],
    registers: [o.registry],
  });
  const sign = (statement: InTotoStatement) =>
    o.signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)));
  // Report ids handed to the outbox by this process; after a restart the outbox itself
  // ignores ids it already holds, this only saves signing the same report again.
  const reported = new Set<string>();
  // Reports are made one at a time, in order: signing is async and two pushes of one image
  // must not race into two reports.
  let reporting: Promise<void> = Promise.resolve();
  const report = (
    kind: SignedReport['kind'],
    reportId: string,
    statement: InTotoStatement,
    image?: SignedReport['image'],
    only?: readonly string[],
  ): Promise<void> => {
    reporting = reporting.then(async () => {
      let stage = 'sign';
      try {
        const envelope = await sign(statement);
        stage = 'enqueue';
        if (o.sinkNames.length > 0)
          await o.outbox.enqueue(
            { reportId, kind, statement, envelope, ...(image === undefined ? {} : { image }) },
            only ?? o.sinkNames,
          );
      } catch (error) {
        // Not reported: the next push or restart tries again.
        reported.delete(reportId);
        signingFailures.inc({ stage });
        o.logger.error({ err: error, reportId, stage }, 'could not sign or enqueue a provenance report');
      }
    });
    return reporting;
  };

  /** Signs and enqueues one image's statement, once (to `only` those sinks when given). */
  const reportImage = (
    reportId: string,
    image: { registry: string; repository: string; digest: string },
    only?: readonly string[],
  ): void => {
    if (reported.has(reportId)) return;
    let statement: InTotoStatement | null;
    try {
      statement = imageStatement(o.record, o.context(null), image, only !== undefined);
    } catch (error) {
      // Only the operator's configuration can make a statement too large (statement-bounds.ts).
      signingFailures.inc({ stage: 'statement' });
      o.logger.error({ err: error, reportId }, 'could not make a provenance statement');
      return;
    }
    if (statement === null) return;
    reported.add(reportId);
    const subject = { registry: image.registry, repository: image.repository, digest: image.digest };
    void report('image', reportId, statement, subject, only);
  };

  const attaching = o.sinkNames.includes(ATTESTATION_SINK_NAME);
  const reportReadyImages = (): void => {
    for (const image of reportableOutputs(o.record).ready) {
      reportImage(imageReportId(image), image);
      // cosign verifies each platform image by its own digest: every pushed child of an index
      // gets its own statement, for the registry only (the index's report covers the rest).
      if (!attaching) continue;
      for (const child of image.children) {
        if (!child.pushed) continue;
        const childImage = { registry: image.registry, repository: image.repository, digest: child.digest };
        reportImage(childAttestationId(childImage), childImage, [ATTESTATION_SINK_NAME]);
      }
    }
  };

  // The end stamp stands while the record holds what it held when stamped; a build that went on
  // after a finalize (a restart mid-build) gets a new stamp and is reported again, complete.
  let stamp: { finishedOn: number; recordSize: number } | null =
    o.finishedOn === null ? null : { finishedOn: o.finishedOn, recordSize: o.record.size };
  const finishedOn = (): number | null =>
    stamp !== null && stamp.recordSize === o.record.size ? stamp.finishedOn : null;

  // Finalizing is serialized; each one reports the build as it stands. The report id comes from
  // what the statement says (outputs and inputs, not times or byte counts), so finalizing again
  // with nothing new is a no-op.
  let finalizing: Promise<unknown> = Promise.resolve();
  const finalize = (): Promise<InTotoStatement> => {
    const next = finalizing.then(async () => {
      // Observations already taken in must be in the record before the statement is made.
      await o.settle();
      let end = finishedOn();
      if (end === null) {
        end = Date.now();
        stamp = { finishedOn: end, recordSize: o.record.size };
        await appendObservation(o.journal, 'build.finalized', { finishedOn: end });
      }
      const statement = buildStatement(o.record, o.context(end));
      await report('build', buildReportId(o.invocationId, statement), statement);
      await o.anchors.anchor('finalize');
      return statement;
    });
    finalizing = next;
    return next;
  };

  return {
    reportReadyImages,
    finalize,
    statement: () => buildStatement(o.record, o.context(finishedOn())),
    sign,
  };
}
