import type { OciAnomalyEvent, ReferenceValue } from './events.js';

/**
 * The write-ahead record of a manifest push: journaled after the proxy has the whole body and
 * before the registry can have it (the hot path holds the body's last bytes until the append
 * is durable). An attempt with no outcome after it in the journal means the proxy stopped
 * while the registry may have been storing the manifest; on the next start it becomes a
 * `push_outcome_unknown` anomaly, never a push.
 */
export interface PushAttempt {
  /** The exchange the attempt belongs to; its outcome events carry the same id. */
  readonly exchangeId: string;
  readonly registry: string;
  readonly repository: string;
  readonly reference: ReferenceValue;
  /** The proxy's sha256 of the whole body. */
  readonly digest: string;
  readonly size: number;
}

/** Makes an attempt durable; the push goes on only once this resolves. */
export type PushAttemptRecorder = (attempt: PushAttempt) => Promise<void>;

/** Journal kinds of the attempt ledger (not `oci.*`: they are not observations). */
export const PUSH_ATTEMPT_KIND = 'push.attempt';
/** Written once an attempt's exchange has been interpreted (whatever its outcome). */
export const PUSH_SETTLED_KIND = 'push.settled';

/**
 * Attempts read back from the journal, in order, that nothing settled: neither a
 * `push.settled` line nor an observation of the same exchange came after them.
 *
 * Exchange ids restart with each process; that is safe because every start settles what
 * the previous run left open (see outcomeUnknownAfterRestart) before it takes traffic.
 */
export class UnsettledAttempts {
  readonly #pending = new Map<string, PushAttempt>();

  attempted(attempt: PushAttempt): void {
    this.#pending.set(attempt.exchangeId, attempt);
  }

  /** A `push.settled` line, or any observation of that exchange (its outcome got journaled). */
  settled(exchangeId: string): void {
    this.#pending.delete(exchangeId);
  }

  get list(): readonly PushAttempt[] {
    return [...this.#pending.values()];
  }
}

export function outcomeUnknownAfterRestart(attempt: PushAttempt, at: number): OciAnomalyEvent {
  return {
    type: 'ociAnomaly',
    code: 'push_outcome_unknown',
    registry: attempt.registry,
    repository: attempt.repository,
    detail: `manifest sent whole (${attempt.size} bytes); the proxy stopped before the registry's answer was recorded`,
    digest: attempt.digest,
    reference: attempt.reference,
    exchangeId: attempt.exchangeId,
    at,
  };
}
