import type { EgressAttempt, EgressCapture, EgressPolicyMode } from '../http/completed-exchange.js';
import { compareStrings } from '../record/compare.js';

/** Journal kind of one flagged or refused attempt (the complete list: the statement names the top ones). */
export const EGRESS_POLICY_KIND = 'egress.policy';

/**
 * Destinations remembered by name. A build chooses how many distinct hosts it tries, so past
 * this many, attempts are still counted but their names stay only in the journal: memory does
 * not grow with a flood of refused hosts.
 */
export const MAX_TRACKED_DESTINATIONS = 2048;
/** Names longer than any DNS name are shortened (they are the build's bytes, not a host). */
const MAX_NAME_CHARS = 300;

/** What the egress policy flagged (audit) or refused (enforce) at one `host:port`. */
export interface EgressDecisionEntry {
  readonly destination: string;
  readonly refused: number;
  readonly flagged: number;
  /** Attempts per capture path (explicit, connect, transparent-tls, transparent-http, transparent-blind). */
  readonly capturedBy: Readonly<Partial<Record<EgressCapture, number>>>;
  readonly firstAt: string;
  readonly lastAt: string;
}

export interface EgressDecisionsSummary {
  readonly mode: EgressPolicyMode;
  /** Attempts refused / flagged in all, listed or not. */
  readonly refused: number;
  readonly flagged: number;
  /** The destinations with the most attempts (ties by name), sorted by destination. */
  readonly destinations: readonly EgressDecisionEntry[];
  /** Remembered destinations not listed, and their attempts. */
  readonly otherDestinations: { readonly count: number; readonly attempts: number };
  /** Attempts at destinations past MAX_TRACKED_DESTINATIONS: their names are only in the journal. */
  readonly untrackedAttempts: number;
}

interface Entry {
  refused: number;
  flagged: number;
  capturedBy: Partial<Record<EgressCapture, number>>;
  firstAt: number;
  lastAt: number;
}

/** The journal line of one attempt: bounded, so a 64 KiB Host header cannot make a huge line. */
export function egressPolicyLine(attempt: EgressAttempt): EgressAttempt {
  return { ...attempt, hostname: shortName(attempt.hostname) };
}

/**
 * Running tally of the egress policy's decisions, fed live and by the journal at start; bounded in
 * memory (MAX_TRACKED_DESTINATIONS names) and in what `summary()` lists.
 */
export class EgressDecisions {
  readonly #entries = new Map<string, Entry>();
  #refused = 0;
  #flagged = 0;
  #untracked = 0;

  constructor(readonly mode: EgressPolicyMode) {}

  add(attempt: EgressAttempt): void {
    if (attempt.verdict === 'refuse') this.#refused++;
    else this.#flagged++;
    const key = destinationOf(attempt);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= MAX_TRACKED_DESTINATIONS) {
        this.#untracked++;
        return;
      }
      entry = { refused: 0, flagged: 0, capturedBy: {}, firstAt: attempt.at, lastAt: attempt.at };
      this.#entries.set(key, entry);
    }
    if (attempt.verdict === 'refuse') entry.refused++;
    else entry.flagged++;
    entry.capturedBy[attempt.capturedBy] = (entry.capturedBy[attempt.capturedBy] ?? 0) + 1;
    entry.firstAt = Math.min(entry.firstAt, attempt.at);
    entry.lastAt = Math.max(entry.lastAt, attempt.at);
  }

  get refused(): number {
    return this.#refused;
  }

  /** `top` destinations by attempts; `top` = Infinity lists every remembered one (the control view). */
  summary(top: number): EgressDecisionsSummary {
    const all = [...this.#entries.entries()].map(([destination, e]) => ({
      destination,
      refused: e.refused,
      flagged: e.flagged,
      capturedBy: sortedCaptures(e.capturedBy),
      firstAt: new Date(e.firstAt).toISOString(),
      lastAt: new Date(e.lastAt).toISOString(),
    }));
    all.sort((a, b) => attempts(b) - attempts(a) || compareStrings(a.destination, b.destination));
    const listed = all.slice(0, top).sort((a, b) => compareStrings(a.destination, b.destination));
    const rest = all.slice(listed.length);
    return {
      mode: this.mode,
      refused: this.#refused,
      flagged: this.#flagged,
      destinations: listed,
      otherDestinations: { count: rest.length, attempts: rest.reduce((sum, e) => sum + attempts(e), 0) },
      untrackedAttempts: this.#untracked,
    };
  }
}

export function attempts(entry: { readonly refused: number; readonly flagged: number }): number {
  return entry.refused + entry.flagged;
}

function destinationOf(attempt: Pick<EgressAttempt, 'hostname' | 'port'>): string {
  const host = shortName(attempt.hostname.toLowerCase());
  return host.includes(':') ? `[${host}]:${attempt.port}` : `${host}:${attempt.port}`;
}

function shortName(name: string): string {
  return name.length <= MAX_NAME_CHARS ? name : `${name.slice(0, MAX_NAME_CHARS)}…`;
}

function sortedCaptures(
  counts: Partial<Record<EgressCapture, number>>,
): Partial<Record<EgressCapture, number>> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => compareStrings(a, b))) as Partial<
    Record<EgressCapture, number>
  >;
}
