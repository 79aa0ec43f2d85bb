import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ErrorCode } from '../error-codes.js';
import { InvalidOptionError, isRetryable, ProvenanceProxyError } from '../errors.js';
import { Journal, type TornReport } from '../journal/journal.js';
import { OUTBOX_JOURNAL } from '../journal/journal-names.js';
import { appendDeadLetterLine, deadLetterId } from './dead-letter.js';
import { type CompactedLine, replaceJournal } from './outbox-compaction.js';
import { OutboxError } from './outbox-errors.js';
import { type OutboxMetrics, registerOutboxMetrics } from './outbox-metrics.js';
import {
  type DeliveredRecord,
  type EnqueuedRecord,
  OUTBOX_KINDS,
  type ParkedRecord,
  type RejectedRecord,
  readOutboxRecord,
} from './outbox-records.js';
import { backoffDelay, type RetryPolicy, resolveRetryPolicy } from './retry-policy.js';
import { type ProvenanceSink, type SignedReport, SinkError } from './sink.js';

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
  /** Compact the journal once it grows past this many bytes (and twice its size after the last compaction); 16 MiB by default. */
  readonly compactAtBytes?: number;
}

/** A sink refusing the proxy's credentials right now: what /readyz reports until a delivery succeeds. */
export interface AuthProblem {
  readonly sink: string;
  /** `http_401`, `http_403`. */
  readonly cause: string;
  /** Epoch ms of the first refusal in this run of refusals. */
  readonly since: number;
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
  authProblem: AuthProblem | null;
}

interface Failure {
  readonly retryable: boolean;
  readonly auth: boolean;
  readonly cause: string;
  readonly code: ErrorCode;
  readonly message: string;
}

interface Sleeper {
  readonly timer: NodeJS.Timeout;
  readonly wake: (elapsed: boolean) => void;
}

const DEFAULT_MAX_IN_FLIGHT = 4;
const DEFAULT_COMPACT_AT_BYTES = 16 * 1024 * 1024;
/** Stores can answer with whole pages; the journal keeps enough for an operator to act on. */
const MAX_RECORDED_MESSAGE = 2000;

/**
 * A durable queue of signed reports for the sinks, kept in its own journal.
 *
 * `enqueue` resolves once an `enqueued` line is fsync'd; delivery then runs in the background, one
 * lane per sink: dispatched in enqueue order, at most `maxInFlightPerSink` at a time (a delivery
 * waiting to retry keeps its slot, so a recovering store is not flooded), and sinks never wait on
 * each other. Every outcome is journaled (`delivered`, `parked`, `expired`); whatever has none is
 * pending again when the outbox is reopened, so with sinks that are idempotent per reportId each
 * report reaches each sink exactly once across restarts and kill -9.
 *
 * No report is dropped: failures that may pass (5xx, 429, network, and 401/403, which are also
 * logged as errors, counted and shown on /readyz) are retried with backoff; a report the sink proves
 * unacceptable, or one past the max age, is parked in the dead-letter file (fsync'd, never deleted)
 * before its outcome is journaled. The journal is compacted at open and whenever it grows past a
 * threshold, atomically (outbox-compaction.ts).
 */
export class Outbox {
  private journal: Journal;
  /** Kept apart from the journal: a compaction at open replaces the journal object. */
  private readonly tornAtOpen: TornReport | null;
  private readonly dir: string;
  private readonly journalName: string;
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly metrics: OutboxMetrics;
  private readonly policy: RetryPolicy;
  private readonly maxInFlight: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly lanes = new Map<string, Lane>();
  /** Every (report, sink) ever enqueued, so enqueueing the same report again is a no-op. */
  private readonly known = new Map<string, Set<string>>();
  /** Deliveries whose outcome is not journaled yet, in enqueue order: what a compaction keeps. */
  private readonly live = new Map<string, { sink: string; delivery: Delivery }>();
  private readonly compactAtBytes: number;
  private nextCompactionAt: number;
  /** Set while a compaction runs: appends wait for it. */
  private compacting: Promise<void> | null = null;
  /** Appends started and not yet applied to memory; a compaction waits for them. */
  private appending = 0;
  private readonly appendWaiters = new Set<() => void>();
  /** Dead-letter appends, one at a time. */
  private deadLettering: Promise<void> = Promise.resolve();
  private readonly tasks = new Set<Promise<void>>();
  private readonly sleepers = new Set<Sleeper>();
  private readonly idleWaiters = new Set<() => void>();
  private enqueuing = 0;
  private closing: Promise<void> | null = null;

  private constructor(journal: Journal, options: OutboxOptions, policy: RetryPolicy, maxInFlight: number) {
    this.journal = journal;
    this.tornAtOpen = journal.torn;
    this.dir = options.dir;
    this.journalName = options.name ?? OUTBOX_JOURNAL;
    this.registry = options.registry;
    this.compactAtBytes = options.compactAtBytes ?? DEFAULT_COMPACT_AT_BYTES;
    this.nextCompactionAt = this.compactAtBytes;
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
      await outbox.compactIfWorthIt(true);
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
      } else if (record.kind === 'settled') {
        for (const sink of record.data.sinks) this.remember(record.data.reportId, sink);
      } else {
        pending.delete(laneKey(record.data.sink, record.data.reportId));
      }
    }
    for (const [key, entry] of pending) {
      this.live.set(key, entry);
      this.laneFor(entry.sink).queue.push(entry.delivery);
    }
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
    return this.tornAtOpen;
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
      await this.append(OUTBOX_KINDS.enqueued, record, (receipt) => {
        const enqueuedAt = Date.parse(receipt.at);
        for (const sink of fresh) {
          const delivery: Delivery = { reportId, report, enqueuedAt, attempts: 0 };
          this.live.set(laneKey(sink, reportId), { sink, delivery });
          const lane = this.laneFor(sink);
          lane.queue.push(delivery);
          this.pump(lane);
        }
      });
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
      while (this.compacting !== null) await this.compacting;
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

  /**
   * Tries until the sink accepts, proves the payload unacceptable (parked), or the policy's max age
   * passes (parked too). Never rejects.
   */
  private async deliver(lane: Lane, sink: ProvenanceSink, delivery: Delivery): Promise<void> {
    const { reportId } = delivery;
    for (;;) {
      delivery.attempts += 1;
      let failure: Failure;
      try {
        await sink.deliver(delivery.report);
        this.metrics.reports.inc({ sink: sink.name, result: 'succeeded', cause: 'none' });
        if (lane.authProblem !== null) {
          this.logger.info({ sink: sink.name }, `sink ${sink.name} accepts the credentials again`);
          lane.authProblem = null;
        }
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
        this.metrics.reports.inc({ sink: sink.name, result: 'parked', cause: failure.cause });
        await this.park(
          delivery,
          outcome,
          OUTBOX_KINDS.parked,
          `sink ${sink.name} refused the report as it is`,
        );
        return;
      }
      const age = this.now() - delivery.enqueuedAt;
      const { maxAgeMs } = this.policy;
      if (maxAgeMs !== null && age >= maxAgeMs) {
        this.metrics.reports.inc({ sink: sink.name, result: 'failed', cause: 'max_age' });
        await this.park(
          delivery,
          outcome,
          OUTBOX_KINDS.expired,
          `sink ${sink.name} still failing after ${maxAgeMs} ms`,
        );
        return;
      }
      this.metrics.reports.inc({ sink: sink.name, result: 'retried', cause: failure.cause });
      const delay = Math.min(
        backoffDelay(delivery.attempts, this.policy, this.random),
        maxAgeMs === null ? Number.POSITIVE_INFINITY : maxAgeMs - age,
      );
      if (failure.auth) {
        // Loud: nothing reaches the store until someone fixes the token. Never log the token itself.
        this.metrics.authFailures.inc({ sink: sink.name, status: failure.cause.replace(/^http_/, '') });
        lane.authProblem ??= { sink: sink.name, cause: failure.cause, since: this.now() };
        this.logger.error(
          { ...outcome, retryInMs: delay },
          `sink ${sink.name} refused the proxy's credentials (${failure.cause}); reports wait and are retried`,
        );
      } else {
        const log = failure.cause === 'unexpected' ? this.logger.error : this.logger.warn;
        log.call(
          this.logger,
          { ...outcome, retryInMs: delay },
          `delivery to ${sink.name} failed; will retry`,
        );
      }
      if (!(await this.sleep(delay))) {
        // Closing: back to the head of the queue; the journal still has it as pending.
        lane.queue.unshift(delivery);
        return;
      }
    }
  }

  /**
   * Writes the report to the dead-letter file (fsync'd) and only then journals its outcome, so a
   * crash in between delivers it again rather than losing it.
   */
  private async park(
    delivery: Delivery,
    outcome: RejectedRecord,
    kind: typeof OUTBOX_KINDS.parked | typeof OUTBOX_KINDS.expired,
    why: string,
  ): Promise<void> {
    const id = deadLetterId(outcome.sink, outcome.reportId);
    const write = this.deadLettering.then(() =>
      appendDeadLetterLine(this.dir, {
        type: 'dead-letter',
        id,
        at: new Date(this.now()).toISOString(),
        sink: outcome.sink,
        reportId: outcome.reportId,
        kind: delivery.report.kind,
        attempts: outcome.attempts,
        code: outcome.code,
        cause: outcome.cause,
        message: outcome.message,
        report: delivery.report,
      }),
    );
    this.deadLettering = write.catch(() => undefined);
    try {
      await write;
    } catch (err) {
      // Not parked, so not settled either: it stays pending in the journal and is tried after a restart.
      this.logger.error(
        { err, ...outcome },
        `${why}, and the dead-letter file could not be written; the report stays pending`,
      );
      return;
    }
    this.metrics.deadLetters.inc({
      sink: outcome.sink,
      cause: kind === 'expired' ? 'max_age' : outcome.cause,
    });
    this.logger.error(
      { ...outcome, deadLetterId: id },
      `${why}: ${outcome.message}; parked as dead letter ${id} (provenance-proxy outbox list / resend)`,
    );
    const record: ParkedRecord = { ...outcome, deadLetterId: id };
    await this.record(kind, record);
  }

  /** Journals an outcome. If the journal has failed, the report stays pending for the next start. */
  private async record(kind: string, data: DeliveredRecord | RejectedRecord): Promise<void> {
    try {
      await this.append(kind, data, () => this.live.delete(laneKey(data.sink, data.reportId)));
    } catch (err) {
      this.logger.error(
        { err, reportId: data.reportId, sink: data.sink, outcome: kind },
        'could not journal a delivery outcome; the report will be delivered again after a restart',
      );
      return;
    }
    void this.compactIfWorthIt(false);
  }

  /**
   * Appends one line once no compaction runs, and applies it to memory (`applied`) in the same turn
   * the append resolves, so a compaction always sees memory and journal agree.
   */
  private async append(
    kind: string,
    data: unknown,
    applied: (receipt: { at: string }) => void,
  ): Promise<void> {
    while (this.compacting !== null) await this.compacting;
    this.appending += 1;
    try {
      applied(await this.journal.append(kind, data));
    } finally {
      this.appending -= 1;
      if (this.appending === 0) for (const done of [...this.appendWaiters]) done();
    }
  }

  /** Readiness details: sinks refusing the proxy's credentials right now. */
  authProblems(): AuthProblem[] {
    const problems: AuthProblem[] = [];
    for (const lane of this.lanes.values()) if (lane.authProblem !== null) problems.push(lane.authProblem);
    return problems;
  }

  /**
   * Rewrites the journal without the deliveries that are over, when it is worth it: at open if
   * anything is over, later once the file passes the threshold. Failures are logged and counted;
   * the old journal is then still whole and in use.
   */
  private async compactIfWorthIt(atOpen: boolean): Promise<void> {
    if (this.compacting !== null || this.closing !== null) return;
    let size: number;
    try {
      size = (await stat(this.journal.path)).size;
    } catch {
      return;
    }
    const worthIt = atOpen
      ? this.journal.lastSeq > this.compactedLines().length
      : size >= this.nextCompactionAt;
    // Re-checked after the await: a close() that began meanwhile must not find a journal reopened behind it.
    if (!worthIt || this.compacting !== null || this.closing !== null) return;
    let finish!: () => void;
    this.compacting = new Promise<void>((resolve) => {
      finish = resolve;
    });
    try {
      await this.compact(size);
      this.metrics.compactions.inc({ result: 'done' });
    } catch (err) {
      this.metrics.compactions.inc({ result: 'failed' });
      // Not again at every outcome: only once the journal has doubled.
      this.nextCompactionAt = Math.max(this.nextCompactionAt, 2 * size);
      this.logger.error(
        { err, journal: this.journal.path },
        'outbox compaction failed; the journal is unchanged',
      );
    } finally {
      this.compacting = null;
      finish();
    }
  }

  private async compact(sizeBefore: number): Promise<void> {
    while (this.appending > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.appendWaiters.delete(done);
          resolve();
        };
        this.appendWaiters.add(done);
      });
    }
    const lines = this.compactedLines();
    this.logger.info(
      { journal: this.journal.path, bytes: sizeBefore, lines: this.journal.lastSeq, keep: lines.length },
      'outbox compaction started',
    );
    await this.journal.close();
    try {
      await replaceJournal(this.dir, this.journalName, lines, {
        logger: this.logger,
        registry: this.registry,
      });
    } finally {
      // Whatever happened, the file under the journal's name is whole (old or new): open it again.
      this.journal = await Journal.open({
        dir: this.dir,
        name: this.journalName,
        logger: this.logger,
        registry: this.registry,
        now: () => new Date(this.now()),
      });
    }
    const sizeAfter = (await stat(this.journal.path)).size;
    this.nextCompactionAt = Math.max(this.compactAtBytes, 2 * sizeAfter);
    this.logger.info(
      { journal: this.journal.path, bytesBefore: sizeBefore, bytesAfter: sizeAfter, pending: this.live.size },
      'outbox journal compacted',
    );
  }

  /** `settled` lines for what is over (so enqueueing it again stays a no-op), then what is pending. */
  private compactedLines(): CompactedLine[] {
    const lines: CompactedLine[] = [];
    for (const [reportId, sinks] of this.known) {
      const over = [...sinks].filter((sink) => !this.live.has(laneKey(sink, reportId)));
      if (over.length > 0) lines.push({ kind: OUTBOX_KINDS.settled, data: { reportId, sinks: over } });
    }
    const pending = new Map<string, { report: SignedReport; enqueuedAt: number; sinks: string[] }>();
    for (const { sink, delivery } of this.live.values()) {
      const entry = pending.get(delivery.reportId) ?? {
        report: delivery.report,
        enqueuedAt: delivery.enqueuedAt,
        sinks: [],
      };
      entry.sinks.push(sink);
      pending.set(delivery.reportId, entry);
    }
    for (const [reportId, { report, enqueuedAt, sinks }] of pending) {
      const record: EnqueuedRecord = { reportId, sinks, report, enqueuedAt };
      lines.push({ kind: OUTBOX_KINDS.enqueued, data: record });
    }
    return lines;
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
  return { name, sink, queue: [], inFlight: new Set(), authProblem: null };
}

function laneKey(sink: string, reportId: string): string {
  return `${sink}\u0000${reportId}`;
}

/**
 * Retry or park, decided by the error's type: a SinkError carries the sink's decision and its
 * metrics label; another typed error says whether it is retryable; anything else is a bug or an
 * unforeseen failure: retried, loudly (`unexpected`).
 */
function classify(err: unknown): Failure {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof SinkError) {
    return { retryable: err.retryable, auth: err.auth, cause: err.reason, code: err.code, message };
  }
  return {
    retryable: isRetryable(err),
    auth: false,
    cause: 'unexpected',
    code: err instanceof ProvenanceProxyError ? err.code : 'ERR_UNEXPECTED',
    message,
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
