/** Journal kinds: each capture check's result, and each connection that posed as the canary. */
export const CAPTURE_CHECK_KIND = 'capture.check';
export const CAPTURE_FORGED_KIND = 'capture.forged';

/** Anomalies a statement lists by itself (the journal has them all). */
const MAX_LISTED_ANOMALIES = 10;

/** A capture check as journaled (capture/capture-verifier.ts makes them). */
export interface CaptureCheckLine {
  readonly at: number;
  readonly ok: boolean;
  readonly ruleSetHash: string;
  readonly reason?: string;
}

export interface CaptureAnomaly {
  readonly code: 'capture_check_failed' | 'capture_rules_changed' | 'capture_canary_forged';
  readonly at: string;
  readonly detail: string;
}

/**
 * How the build's egress was captured, as the statement says it. `egressComplete` is the claim
 * that the observed egress is all of the pod's TCP egress: made only when capture was
 * transparent, its rule set verified by a canary at the proxy's start, and every later check
 * (each interval, each restart) passed with the same rule set. One failed check withdraws it for
 * the rest of the build.
 */
export interface CaptureSummary {
  /** `explicit`: only clients that use the proxy variables; `transparent`: netfilter redirects the pod's TCP. */
  readonly mode: 'explicit' | 'transparent';
  /** The rule set the proxy's canary checked (null in explicit mode and before the first check). */
  readonly ruleSetHash: string | null;
  readonly egressComplete: boolean;
  /** Why the claim is not made (absent when it is). */
  readonly notComplete?: string;
  readonly checks: {
    readonly passed: number;
    readonly failed: number;
    readonly intervalSeconds: number;
    readonly firstPassedAt: string | null;
    readonly lastPassedAt: string | null;
  };
  readonly forgedCanaries: number;
  readonly anomalies: readonly CaptureAnomaly[];
  readonly anomaliesOmitted: number;
}

/** The capture state of one build, fed live and replayed from the journal at start. */
export class CaptureRecord {
  #passed = 0;
  #failed = 0;
  #forged = 0;
  #firstPassedAt: number | null = null;
  #lastPassedAt: number | null = null;
  #rulesChanged = false;
  readonly #anomalies: CaptureAnomaly[] = [];
  #anomalyCount = 0;

  /** The rule set of the first check (journaled or live); a check of another one withdraws the claim. */
  #ruleSetHash: string | null = null;

  constructor(
    readonly mode: 'explicit' | 'transparent',
    readonly intervalMs: number,
  ) {}

  addCheck(check: CaptureCheckLine): void {
    this.#ruleSetHash ??= check.ruleSetHash;
    if (check.ruleSetHash !== this.#ruleSetHash && !this.#rulesChanged) {
      this.#rulesChanged = true;
      this.#anomaly({
        code: 'capture_rules_changed',
        at: iso(check.at),
        detail: `first checked rule set ${this.#ruleSetHash}, then ${check.ruleSetHash}`,
      });
    }
    if (check.ok) {
      this.#passed++;
      this.#firstPassedAt ??= check.at;
      this.#lastPassedAt = check.at;
    } else {
      this.#failed++;
      this.#anomaly({
        code: 'capture_check_failed',
        at: iso(check.at),
        detail: `the canary did not come back through the capture rules (${check.reason ?? 'unknown'})`,
      });
    }
  }

  /** Replays a `capture.check` line; anything else is ignored. */
  addJournaledCheck(data: unknown): void {
    const c = data as Partial<CaptureCheckLine> | null;
    if (c === null || typeof c !== 'object' || typeof c.at !== 'number' || typeof c.ok !== 'boolean') return;
    this.addCheck({
      at: c.at,
      ok: c.ok,
      ruleSetHash: String(c.ruleSetHash),
      ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
    });
  }

  addForged(data: unknown): void {
    const f = data as { at?: unknown; reason?: unknown } | null;
    this.#forged++;
    this.#anomaly({
      code: 'capture_canary_forged',
      at: iso(typeof f?.at === 'number' ? f.at : 0),
      detail: `a connection to the canary destination was not the proxy's canary (${String(f?.reason)})`,
    });
  }

  /** The claim as it stands; withdrawn for good once a check failed. */
  get egressComplete(): boolean {
    return this.#reason() === null;
  }

  summary(): CaptureSummary {
    const reason = this.#reason();
    return {
      mode: this.mode,
      ruleSetHash: this.mode === 'explicit' ? null : this.#ruleSetHash,
      egressComplete: reason === null,
      ...(reason === null ? {} : { notComplete: reason }),
      checks: {
        passed: this.#passed,
        failed: this.#failed,
        intervalSeconds: Math.round(this.intervalMs / 1000),
        firstPassedAt: this.#firstPassedAt === null ? null : iso(this.#firstPassedAt),
        lastPassedAt: this.#lastPassedAt === null ? null : iso(this.#lastPassedAt),
      },
      forgedCanaries: this.#forged,
      anomalies: [...this.#anomalies],
      anomaliesOmitted: this.#anomalyCount - this.#anomalies.length,
    };
  }

  #reason(): string | null {
    if (this.mode === 'explicit')
      return 'explicit capture only: connections that do not use the proxy variables are not seen';
    if (this.#failed > 0) return 'a capture check failed: the rules were not live for the whole build';
    if (this.#rulesChanged) return 'the capture rule set changed during the build';
    if (this.intervalMs <= 0) return 'capture checks are off (--capture-check-interval 0s)';
    if (this.#passed === 0) return 'the capture rules were never verified by a canary';
    return null;
  }

  #anomaly(anomaly: CaptureAnomaly): void {
    this.#anomalyCount++;
    if (this.#anomalies.length < MAX_LISTED_ANOMALIES) this.#anomalies.push(anomaly);
  }
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
