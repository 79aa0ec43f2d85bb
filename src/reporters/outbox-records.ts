import type { JournalEntry } from '../journal/journal-line.js';
import { OutboxError } from './outbox-errors.js';
import type { SignedReport } from './sink.js';

/**
 * The outbox's journal lines (`kind` → `data`). A delivery is pending from its `enqueued` line until
 * a `delivered`, `parked`, `expired` (or, written by older versions, `rejected`) line names the same
 * report and sink. A compacted journal holds `settled` lines (reports whose delivery to those sinks
 * is over, kept so enqueueing them again stays a no-op) and the `enqueued` lines still pending.
 */
export interface EnqueuedRecord {
  readonly reportId: string;
  readonly sinks: readonly string[];
  readonly report: SignedReport;
  /** Set by compaction: when the report was first enqueued (epoch ms), since the line's `at` is newer. */
  readonly enqueuedAt?: number;
}

export interface SettledRecord {
  readonly reportId: string;
  readonly sinks: readonly string[];
}

export interface DeliveredRecord {
  readonly reportId: string;
  readonly sink: string;
  /** Attempts made by the process that delivered it. */
  readonly attempts: number;
}

/** A final answer (the payload proven unacceptable) or an expiry: the store's message is kept for the operator. */
export interface RejectedRecord {
  readonly reportId: string;
  readonly sink: string;
  readonly attempts: number;
  readonly code: string;
  readonly cause: string;
  readonly message: string;
}

/** The report was written to the dead-letter file under `deadLetterId` (fsync'd) before this line. */
export interface ParkedRecord extends RejectedRecord {
  readonly deadLetterId: string;
}

export const OUTBOX_KINDS = {
  enqueued: 'enqueued',
  delivered: 'delivered',
  rejected: 'rejected',
  expired: 'expired',
  parked: 'parked',
  settled: 'settled',
} as const;

export type OutboxRecord =
  | { readonly kind: 'enqueued'; readonly data: EnqueuedRecord; readonly at: number }
  | { readonly kind: 'settled'; readonly data: SettledRecord }
  | {
      readonly kind: 'delivered' | 'rejected' | 'expired' | 'parked';
      readonly data: { reportId: string; sink: string };
    };

/** Reads one journal entry back as an outbox record; the journal's hash chain already vouches for the bytes. */
export function readOutboxRecord(entry: JournalEntry): OutboxRecord {
  const data = entry.data as Record<string, unknown> | null;
  const bad = (why: string): OutboxError =>
    new OutboxError('ERR_OUTBOX_REPLAY', `outbox journal seq ${entry.seq} (${entry.kind}): ${why}`);
  if (typeof data !== 'object' || data === null || typeof data['reportId'] !== 'string') {
    throw bad('no reportId');
  }
  const reportId = data['reportId'];
  switch (entry.kind) {
    case OUTBOX_KINDS.enqueued: {
      const sinks = data['sinks'];
      if (!Array.isArray(sinks) || !sinks.every((s) => typeof s === 'string')) {
        throw bad('sinks is not a list of names');
      }
      const report = data['report'] as SignedReport | undefined;
      if (typeof report !== 'object' || report === null || report.reportId !== reportId) {
        throw bad('report missing or not matching reportId');
      }
      const enqueuedAt = data['enqueuedAt'];
      const at =
        typeof enqueuedAt === 'number' && Number.isFinite(enqueuedAt) ? enqueuedAt : Date.parse(entry.at);
      return { kind: 'enqueued', data: { reportId, sinks, report }, at };
    }
    case OUTBOX_KINDS.settled: {
      const sinks = data['sinks'];
      if (!Array.isArray(sinks) || !sinks.every((s) => typeof s === 'string')) {
        throw bad('sinks is not a list of names');
      }
      return { kind: 'settled', data: { reportId, sinks } };
    }
    case OUTBOX_KINDS.delivered:
    case OUTBOX_KINDS.rejected:
    case OUTBOX_KINDS.expired:
    case OUTBOX_KINDS.parked: {
      const sink = data['sink'];
      if (typeof sink !== 'string') throw bad('no sink');
      return { kind: entry.kind, data: { reportId, sink } };
    }
    default:
      throw bad('unknown kind');
  }
}
