import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Journal } from '../journal/journal.js';
import type { JournalRecordError } from '../journal/journal-errors.js';
import { outcomeUnknownAfterRestart, UnsettledAttempts } from '../oci/push-attempts.js';
import { EgressTally } from '../provenance/egress-summary.js';
import { BuildRecord } from '../record/build-record.js';
import type { EgressRecords } from './egress-records.js';
import { appendObservation, readObservation } from './observation-records.js';

/** The build as the observation journal tells it, rebuilt at start. */
export interface ReplayedBuild {
  readonly record: BuildRecord;
  readonly egress: EgressTally;
  /** The last finalize's stamp, when nothing was observed after it (else the build went on). */
  readonly finishedOn: number | null;
  /** Lines this proxy could not read (a newer proxy's kinds or versions, or a broken shape). */
  readonly unreadable: number;
}

/** How many unreadable lines are logged one by one; the rest are counted. */
const LOGGED_UNREADABLE = 10;

/**
 * Stage 1, replay: streams the journal into the record, the egress tally and the push-attempt ledger
 * (each observation is applied as it is read and its body dropped: a restart costs what the record
 * holds, not what the journal holds). A line it cannot read is never silent: logged with its code,
 * counted in `provenance_proxy_journal_unreadable_records_total`, and replay goes on, since refusing
 * to start would lose the rest of the build's record too. Pushes the last run stopped in the middle of
 * (kill -9, OOM) become `push_outcome_unknown` anomalies, journaled and settled before any traffic.
 */
export async function replayObservations(
  journal: Journal,
  logger: Logger,
  registry: Registry,
  stages: {
    /** The tally to replay egress into (one is made when not given). */
    readonly egress?: EgressTally;
    /** Egress-policy decisions and capture checks (app/egress-records.ts). */
    readonly egressRecords?: Pick<EgressRecords, 'replay'>;
  } = {},
  now: () => number = Date.now,
): Promise<ReplayedBuild> {
  const unreadableTotal = new Counter({
    name: 'provenance_proxy_journal_unreadable_records_total',
    help: 'Observation journal lines replay could not read (unknown kind or version, broken shape), by code',
    labelNames: ['code'],
    registers: [registry],
  });
  const record = new BuildRecord();
  const egress = stages.egress ?? new EgressTally();
  const unsettled = new UnsettledAttempts();
  let stamp: { finishedOn: number; recordSize: number } | null = null;
  let unreadable = 0;
  const report = (error: JournalRecordError) => {
    unreadable += 1;
    unreadableTotal.inc({ code: error.code });
    if (unreadable <= LOGGED_UNREADABLE)
      logger.warn(
        { journal: journal.path, seq: error.seq, kind: error.kind, code: error.code, err: error },
        'journal line not replayed: this proxy cannot read its record; the statement may lack what it held',
      );
  };
  for await (const entry of journal.entries()) {
    const read = readObservation(entry);
    if (!read.ok) {
      report(read.error);
      continue;
    }
    const { record: line } = read;
    switch (line.kind) {
      case 'oci':
        record.apply(line.data);
        unsettled.settled(line.data.exchangeId);
        break;
      case 'egress.tunnel':
        egress.addTunnel(line.data);
        break;
      case 'egress.hosts':
        egress.addJournaledHosts(line.data.hosts);
        break;
      case 'egress.refused':
        egress.addBlocked();
        break;
      case 'build.finalized':
        stamp = { finishedOn: line.data.finishedOn, recordSize: record.size };
        break;
      case 'push.attempt':
        unsettled.attempted(line.data);
        break;
      case 'push.settled':
        unsettled.settled(line.data.exchangeId);
        break;
      case 'egress.policy':
      case 'capture.check':
      case 'capture.forged':
        stages.egressRecords?.replay(line);
        break;
      case 'attestation.attached':
      case 'journal.anchor':
        break;
      default:
        // A kind added to observation-records.ts must be given its case here: the compiler checks.
        line satisfies never;
    }
  }
  if (unreadable > LOGGED_UNREADABLE)
    logger.warn({ journal: journal.path, unreadable }, 'journal lines not replayed in all');
  for (const attempt of unsettled.list) {
    const event = outcomeUnknownAfterRestart(attempt, now());
    await appendObservation(journal, 'oci', event);
    await appendObservation(journal, 'push.settled', { exchangeId: attempt.exchangeId });
    record.apply(event);
    logger.warn(
      { registry: attempt.registry, repository: attempt.repository, digest: attempt.digest },
      'a manifest push was under way when the proxy stopped: recorded as push_outcome_unknown',
    );
  }
  if (record.size > 0)
    logger.info({ observations: record.size }, 'rebuilt the build record from the journal');
  // The build went on after the last finalize (the sidecar restarted mid-build) when the record grew.
  const finishedOn = stamp !== null && stamp.recordSize === record.size ? stamp.finishedOn : null;
  return { record, egress, finishedOn, unreadable };
}
