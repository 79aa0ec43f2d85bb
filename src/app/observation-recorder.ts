import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { CompletedExchange, TunnelRecord } from '../http/completed-exchange.js';
import type { Journal } from '../journal/journal.js';
import type { DestinationRefusal } from '../net/destination-policy.js';
import type { OciEvent } from '../oci/events.js';
import type { OciMetrics } from '../oci/metrics.js';
import type { PushAttempt } from '../oci/push-attempts.js';
import type { EgressTally } from '../provenance/egress-summary.js';
import type { BuildRecord } from '../record/build-record.js';
import { appendObservation, type ObservationData, type ObservationKind } from './observation-records.js';

/** How often host tallies are journaled; a kill -9 loses at most this much of the byte counts, never an observation. */
const EGRESS_FLUSH_MS = 10_000;

export interface ObservationRecorderOptions {
  readonly journal: Journal;
  readonly record: BuildRecord;
  readonly egress: EgressTally;
  readonly ociMetrics: OciMetrics;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Called once a pushed manifest is in the record (durable first): the publisher reports ready images. */
  readonly onManifestPushed: () => void;
}

/**
 * Stage 2, record: every observation is appended to the journal and only after the append resolves
 * applied to the record (durable before visible). Also the write-ahead push attempts, the egress
 * tallies (flushed every 10 s and before a finalize, not per exchange) and the journal's health.
 */
export class ObservationRecorder {
  readonly #o: ObservationRecorderOptions;
  #healthy = true;
  /** Observations appended but not yet applied to the record. */
  readonly #inFlight = new Set<Promise<void>>();
  /** Exchanges whose push attempt is journaled and whose outcome is not yet. */
  readonly #openAttempts = new Set<string>();
  #egressFlush: Promise<void> = Promise.resolve();
  readonly #egressTimer: NodeJS.Timeout;

  constructor(options: ObservationRecorderOptions) {
    this.#o = options;
    const recorder = this;
    new Gauge({
      name: 'provenance_proxy_journal_healthy',
      help: '1 while observations are journaled durably; 0 after a journal append failed (readiness fails too)',
      registers: [options.registry],
      collect() {
        this.set(recorder.#healthy ? 1 : 0);
      },
    });
    this.#egressTimer = setInterval(() => void this.#flushEgress(), EGRESS_FLUSH_MS);
    this.#egressTimer.unref();
  }

  /** false once an append failed: observations are no longer durable (readiness fails). */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Journals a push attempt; rejects when the journal cannot take it, and the hot path refuses the push (fail closed). */
  readonly recordAttempt = (attempt: PushAttempt): Promise<void> => {
    this.#openAttempts.add(attempt.exchangeId);
    return appendObservation(this.#o.journal, 'push.attempt', attempt).then(
      () => undefined,
      (error: unknown) => {
        this.#healthy = false;
        throw error;
      },
    );
  };

  /** One exchange and the events the interpreter made of it. */
  exchange(exchange: CompletedExchange, events: readonly OciEvent[]): void {
    this.#o.egress.addExchange(exchange);
    for (const event of events) {
      const applied = this.#append('oci', event).then(() => {
        this.#o.record.apply(event);
        this.#o.ociMetrics.observe([event]);
        if (event.type === 'manifestPushed') this.#o.onManifestPushed();
      });
      this.#inFlight.add(applied);
      void applied.finally(() => this.#inFlight.delete(applied));
    }
    // Appends keep call order: the attempt is settled after its outcome's events.
    if (this.#openAttempts.delete(exchange.id))
      void this.#append('push.settled', { exchangeId: exchange.id });
  }

  tunnel(tunnel: TunnelRecord): void {
    this.#o.egress.addTunnel(tunnel);
    void this.#append('egress.tunnel', tunnel);
    this.#o.logger.info(
      { authority: tunnel.authority, bytesIn: tunnel.bytesFromClient, bytesOut: tunnel.bytesFromUpstream },
      'unobserved tunnel closed',
    );
  }

  refusedDestination(refusal: DestinationRefusal): void {
    this.#o.egress.addBlocked();
    void this.#append('egress.refused', { ...refusal, at: Date.now() });
    this.#o.logger.warn(refusal, 'destination refused by policy');
  }

  /** Journals a record another stage owns (egress-policy decisions, capture checks); resolves once durable. */
  record<K extends ObservationKind>(kind: K, data: ObservationData[K]): Promise<void> {
    return this.#append(kind, data);
  }

  /** Resolves once everything taken in is in the record and the egress tallies are journaled. */
  async settled(): Promise<void> {
    await Promise.all(this.#inFlight);
    await this.#flushEgress();
  }

  stop(): void {
    clearInterval(this.#egressTimer);
  }

  #append<K extends ObservationKind>(kind: K, data: ObservationData[K]): Promise<void> {
    return appendObservation(this.#o.journal, kind, data).then(
      () => undefined,
      (error: unknown) => {
        // The journal refuses further appends after an I/O error; readiness fails so the
        // platform sees it, and the observation stays visible in memory rather than being lost.
        if (this.#healthy)
          this.#o.logger.error({ err: error }, 'journal append failed: observations are no longer durable');
        this.#healthy = false;
      },
    );
  }

  /** The statement names the top hosts only; the journal keeps every host's tallies, so the full list survives restarts. */
  #flushEgress(): Promise<void> {
    this.#egressFlush = this.#egressFlush.then(async () => {
      for (const hosts of this.#o.egress.takeUnjournaledHosts()) {
        try {
          await appendObservation(this.#o.journal, 'egress.hosts', { hosts });
        } catch (error) {
          this.#o.egress.restoreUnjournaledHosts(hosts);
          if (this.#healthy) this.#o.logger.error({ err: error }, 'could not journal egress host tallies');
        }
      }
    });
    return this.#egressFlush;
  }
}
