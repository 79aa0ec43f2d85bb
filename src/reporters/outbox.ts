import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidOptionError } from '../errors.js';
import { Journal, type TornReport } from '../journal/journal.js';
import { OUTBOX_JOURNAL } from '../journal/journal-names.js';
import { OutboxError } from './outbox-errors.js';
import { type OutboxMetrics, registerOutboxMetrics } from './outbox-metrics.js';
import {
  type DeliveredRecord,
  type EnqueuedRecord,
  OUTBOX_KINDS,
  type RejectedRecord,
  readOutboxRecord,
} from './outbox-records.js';
import { backoffDelay, type RetryPolicy, resolveRetryPolicy } from './retry-policy.js';
import type { ProvenanceSink, SignedReport } from './sink.js';

export interface OutboxOptions {
  /** The data directory the outbox journal lives in. */
  readonly dir: string;
  /** Journal file name; `outbox.jsonl` by default. */
  readonly name?: string;
  /** The sinks reports can be enqueued for; names must be unique. */
  readonly sinks: readonly ProvenanceSink[];
  readonly logger: Logger;
  /** Gets the outbox and journal metrics; one outbox per registry. */
  readonly registry: Registry;
  readonly retry?: Partial<RetryPolicy>;
  /** Deliveries started and not finished (including those waiting to retry), per sink; 4 by default. */
  readonly maxInFlightPerSink?: number;
  /** Jitter source in [0, 1); Math.random by default. */
  readonly random?: () => number;
  /** Milliseconds since the epoch; Date.now by default. */
  readonly now?: () => number;
}

interface Delivery {
  readonly reportId: string;
  readonly report: SignedReport;
  /** From the `enqueued` line, so ages and max age survive restarts. */
  readonly enqueuedAt: number;
  attempts: number;
}

/** One sink's queue. A lane whose sink is not configured (any more) holds its deliveries untouched. */
interface Lane {
  readonly name: string;
  readonly sink: ProvenanceSink | undefined;
  readonly queue: Delivery[];
  readonly inFlight: Set<Delivery>;
}

interface Failure {
  readonly retryable: boolean;
  readonly cause: string;
  readonly code: string;
  readonly message: string;
}

interface Sleeper {
  readonly timer: NodeJS.Timeout;
  readonly wake: (elapsed: boolean) => void;
}

const DEFAULT_MAX_IN_FLIGHT = 4;
/** Stores can answer with whole pages; the journal keeps enough for an operator to act on. */
const MAX_RECORDED_MESSAGE = 2000;

/**
 * A durable queue of signed reports for the sinks, kept in its own journal.
 *
 * `enqueue` resolves once an `enqueued` line is fsync'd; delivery then runs in the background, one
 * lane per sink: dispatched in enqueue order, at most `maxInFlightPerSink` at a time (a delivery
 * waiting to retry keeps its slot, so a recovering store is not flooded), and sinks never wait on
 * each other. Every outcome is journaled (`delivered`, `rejected`, `expired`); whatever has none is
 * pending again when the outbox is reopened, so with sinks that are idempotent per reportId each
 * report reaches each sink exactly once across restarts and kill -9.
 */
export class Outbox {
  private readonly journal: Journal;
  private readonly logger: Logger;
  private readonly metrics: OutboxMetrics;
  private readonly policy: RetryPolicy;
  private readonly maxInFlight: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly lanes = new Map<string, Lane>();
  /** Every (report, sink) ever enqueued, so enqueueing the same report again is a no-op. */
  private readonly known = new Map<string, Set<string>>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly sleepers = new Set<Sleeper>();
  private readonly idleWaiters = new Set<() => void>();
  private enqueuing = 0;
  private closing: Promise<void> | null = null;

  private constructor(journal: Journal, options: OutboxOptions, policy: RetryPolicy, maxInFlight: number) {
    this.journal = journal;
    this.logger = options.logger;
    this.policy = policy;
    this.maxInFlight = maxInFlight;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    for (const sink of options.sinks) this.lanes.set(sink.name, newLane(sink.name, sink));
    this.metrics = registerOutboxMetrics(options.registry, {
      snapshot: () => this.snapshot(),
      now: () => this.now(),
    });
  }

  /** Opens the outbox journal, replays it and starts delivering whatever was still pending. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const { policy, maxInFlight } = validateOptions(options);
    const now = options.now ?? Date.now;
    const journal = await Journal.open({
      dir: options.dir,
      name: options.name ?? OUTBOX_JOURNAL,
      logger: options.logger,
      registry: options.registry,
      now: () => new Date(now()),
    });
    let outbox: Outbox | undefined;
    try {
      outbox = new Outbox(journal, options, policy, maxInFlight);
      await outbox.replay();
    } catch (err) {
      outbox?.metrics.unregister();
      await journal.close();
      throw err;
    }
    for (const lane of outbox.lanes.values()) outbox.pump(lane);
    return outbox;
  }

  private async replay(): Promise<void> {
    // Keyed by sink and report, in enqueue order: the order deliveries resume in.
    const pending = new Map<string, { sink: string; delivery: Delivery }>();
    for await (const entry of this.journal.entries()) {
      const record = readOutboxRecord(entry);
      if (record.kind === 'enqueued') {
        const { reportId, sinks, report } = record.data;
        for (const sink of sinks) {
          this.remember(reportId, sink);
          pending.set(laneKey(sink, reportId), {
            sink,
            delivery: { reportId, report, enqueuedAt: record.at, attempts: 0 },
          });
        }
      } else {
        pending.delete(laneKey(record.data.sink, record.data.reportId));
      }
    }
    for (const { sink, delivery } of pending.values()) this.laneFor(sink).queue.push(delivery);
    const parked = [...this.lanes.values()].filter((l) => l.sink === undefined);
    for (const lane of parked) {
      this.logger.warn(
        { sink: lane.name, pending: lane.queue.length },
        'outbox holds reports for a sink that is not configured; they wait until it is configured again',
      );
    }
    if (pending.size > 0 || this.journal.torn !== null) {
      this.logger.info(
        { pending: pending.size, torn: this.journal.torn !== null },
        'outbox replayed its journal',
      );
    }
  }

  /** What open found at the end of the outbox journal, if its last line was torn. */
  get torn(): TornReport | null {
    return this.journal.torn;
  }

  /**
   * Makes `report` durable for each named sink, then delivers it in the background. Resolves once
   * the `enqueued` line is fsync'd. Sinks the report was already enqueued for (in this run or a
   * previous one) are skipped, so enqueueing again after a restart never duplicates.
   */
  async enqueue(report: SignedReport, sinkNames: readonly string[]): Promise<void> {
    if (this.closing !== null) throw new OutboxError('ERR_OUTBOX_CLOSED', 'outbox is closed');
    if (typeof report?.reportId !== 'string' || report.reportId === '') {
      throw new OutboxError('ERR_OUTBOX_REPORT', 'report needs a non-empty reportId');
    }
    const wanted = [...new Set(sinkNames)];
    const unknown = wanted.filter((name) => this.lanes.get(name)?.sink === undefined);
    if (unknown.length > 0) {
      throw new OutboxError('ERR_OUTBOX_UNKNOWN_SINK', `no sink configured named ${unknown.join(', ')}`);
    }
    const { reportId } = report;
    const fresh = wanted.filter((sink) => !this.known.get(reportId)?.has(sink));
    if (fresh.length === 0) return;
    // Claimed before the await, so a concurrent enqueue of the same report does not journal it twice.
    for (const sink of fresh) this.remember(reportId, sink);
    this.enqueuing += 1;
    try {
      const record: EnqueuedRecord = { reportId, sinks: fresh, report };
      const receipt = await this.journal.append(OUTBOX_KINDS.enqueued, record);
      const enqueuedAt = Date.parse(receipt.at);
      for (const sink of fresh) {
        const lane = this.laneFor(sink);
        lane.queue.push({ reportId, report, enqueuedAt, attempts: 0 });
        this.pump(lane);
      }
    } catch (err) {
      for (const sink of fresh) this.known.get(reportId)?.delete(sink);
      throw err;
    } finally {
      this.enqueuing -= 1;
      this.notifyIfIdle();
    }
  }

  /** Deliveries not yet finished for `sink`, or for every sink. */
  pending(sink?: string): number {
    let total = 0;
    for (const lane of this.lanes.values()) {
      if (sink === undefined || lane.name === sink) total += lane.queue.length + lane.inFlight.size;
    }
    return total;
  }

  /**
   * Waits until every configured sink has nothing pending, or `timeoutMs` milliseconds pass (at
   * SIGTERM). Resolves true when drained. Whatever is left stays journaled for the next start.
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new RangeError(`drain timeout must be >= 0 ms, got ${timeoutMs}`));
    }
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve(this.isIdle());
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  /**
   * Stops starting deliveries, cancels retry waits, lets attempts already at a sink finish (and
   * journals their outcome), then closes the journal. Pending reports stay pending for the next open.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const sleeper of this.sleepers) {
        clearTimeout(sleeper.timer);
        sleeper.wake(false);
      }
      this.sleepers.clear();
      while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
      for (const done of [...this.idleWaiters]) done();
      this.metrics.unregister();
      await this.journal.close();
    })();
    return this.closing;
  }

  private pump(lane: Lane): void {
    const sink = lane.sink;
    if (sink === undefined) return;
    while (this.closing === null && lane.inFlight.size < this.maxInFlight && lane.queue.length > 0) {
      const delivery = lane.queue.shift()!;
      lane.inFlight.add(delivery);
      const task: Promise<void> = this.deliver(lane, sink, delivery).finally(() => {
        lane.inFlight.delete(delivery);
        this.tasks.delete(task);
        this.pump(lane);
        this.notifyIfIdle();
      });
      this.tasks.add(task);
    }
  }

  /** Tries until the sink accepts, refuses for good, or the policy's max age passes. Never rejects. */
  private async deliver(lane: Lane, sink: ProvenanceSink, delivery: Delivery): Promise<void> {
    const { reportId } = delivery;
    for (;;) {
      delivery.attempts += 1;
      let failure: Failure;
      try {
        await sink.deliver(delivery.report);
        this.metrics.reports.inc({ sink: sink.name, result: 'succeeded', cause: 'none' });
        const record: DeliveredRecord = { reportId, sink: sink.name, attempts: delivery.attempts };
        await this.record(OUTBOX_KINDS.delivered, record);
        return;
      } catch (err) {
        failure = classify(err);
      }
      const outcome: RejectedRecord = {
        reportId,
        sink: sink.name,
        attempts: delivery.attempts,
        code: failure.code,
        cause: failure.cause,
        message: failure.message.slice(0, MAX_RECORDED_MESSAGE),
      };
      if (!failure.retryable) {
        this.metrics.reports.inc({ sink: sink.name, result: 'failed', cause: failure.cause });
        this.logger.error(outcome, `sink ${sink.name} refused the report; not retrying: ${outcome.message}`);
        await this.record(OUTBOX_KINDS.rejected, outcome);
        return;
      }
      const age = this.now() - delivery.enqueuedAt;
      const { maxAgeMs } = this.policy;
      if (maxAgeMs !== null && age >= maxAgeMs) {
        this.metrics.reports.inc({ sink: sink.name, result: 'failed', cause: 'max_age' });
        this.logger.error(
          outcome,
          `sink ${sink.name} still failing after ${maxAgeMs} ms; giving up on the report`,
        );
        await this.record(OUTBOX_KINDS.expired, outcome);
        return;
      }
      this.metrics.reports.inc({ sink: sink.name, result: 'retried', cause: failure.cause });
      const delay = Math.min(
        backoffDelay(delivery.attempts, this.policy, this.random),
        maxAgeMs === null ? Number.POSITIVE_INFINITY : maxAgeMs - age,
      );
      const log = failure.cause === 'unexpected' ? this.logger.error : this.logger.warn;
      log.call(this.logger, { ...outcome, retryInMs: delay }, `delivery to ${sink.name} failed; will retry`);
      if (!(await this.sleep(delay))) {
        // Closing: back to the head of the queue; the journal still has it as pending.
        lane.queue.unshift(delivery);
        return;
      }
    }
  }

  /** Journals an outcome. If the journal has failed, the report stays pending for the next start. */
  private async record(kind: string, data: DeliveredRecord | RejectedRecord): Promise<void> {
    try {
      await this.journal.append(kind, data);
    } catch (err) {
      this.logger.error(
        { err, reportId: data.reportId, sink: data.sink, outcome: kind },
        'could not journal a delivery outcome; the report will be delivered again after a restart',
      );
    }
  }

  private sleep(ms: number): Promise<boolean> {
    if (this.closing !== null) return Promise.resolve(false);
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve(true);
        }, ms),
        wake: resolve,
      };
      this.sleepers.add(sleeper);
    });
  }

  private isIdle(): boolean {
    if (this.enqueuing > 0) return false;
    for (const lane of this.lanes.values()) {
      if (lane.sink !== undefined && (lane.queue.length > 0 || lane.inFlight.size > 0)) return false;
    }
    return true;
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.size === 0 || !this.isIdle()) return;
    for (const done of [...this.idleWaiters]) done();
  }

  private remember(reportId: string, sink: string): void {
    let sinks = this.known.get(reportId);
    if (sinks === undefined) {
      sinks = new Set();
      this.known.set(reportId, sinks);
    }
    sinks.add(sink);
  }

  private laneFor(name: string): Lane {
    let lane = this.lanes.get(name);
    if (lane === undefined) {
      lane = newLane(name, undefined);
      this.lanes.set(name, lane);
    }
    return lane;
  }

  private *snapshot(): Iterable<{ sink: string; depth: number; oldestEnqueuedAt: number | null }> {
    for (const lane of this.lanes.values()) {
      let oldest: number | null = lane.queue[0]?.enqueuedAt ?? null;
      for (const d of lane.inFlight) if (oldest === null || d.enqueuedAt < oldest) oldest = d.enqueuedAt;
      yield { sink: lane.name, depth: lane.queue.length + lane.inFlight.size, oldestEnqueuedAt: oldest };
    }
  }
}

function newLane(name: string, sink: ProvenanceSink | undefined): Lane {
  return { name, sink, queue: [], inFlight: new Set() };
}

function laneKey(sink: string, reportId: string): string {
  return `${sink}\u0000${reportId}`;
}

/** SinkErrors say whether to retry; anything else is a bug or an unforeseen failure: retry, loudly. */
function classify(err: unknown): Failure {
  const e = err as { retryable?: unknown; cause_?: unknown; code?: unknown; message?: unknown } | null;
  if (
    e !== null &&
    typeof e === 'object' &&
    typeof e.retryable === 'boolean' &&
    typeof e.cause_ === 'string'
  ) {
    return {
      retryable: e.retryable,
      cause: e.cause_,
      code: typeof e.code === 'string' ? e.code : 'ERR_SINK',
      message: typeof e.message === 'string' ? e.message : String(err),
    };
  }
  return {
    retryable: true,
    cause: 'unexpected',
    code: e !== null && typeof e === 'object' && typeof e.code === 'string' ? e.code : 'ERR_UNEXPECTED',
    message: err instanceof Error ? err.message : String(err),
  };
}

function validateOptions(options: OutboxOptions): { policy: RetryPolicy; maxInFlight: number } {
  const names = new Set<string>();
  for (const sink of options.sinks) {
    if (typeof sink?.name !== 'string' || sink.name === '' || typeof sink.deliver !== 'function') {
      throw new InvalidOptionError('outbox.sinks', 'each sink needs a name and a deliver function');
    }
    if (names.has(sink.name)) {
      throw new InvalidOptionError('outbox.sinks', `two sinks are named ${sink.name}`);
    }
    names.add(sink.name);
  }
  const maxInFlight = options.maxInFlightPerSink ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 1024) {
    throw new InvalidOptionError('outbox.maxInFlightPerSink', 'must be an integer from 1 to 1024');
  }
  return { policy: resolveRetryPolicy(options.retry), maxInFlight };
}
