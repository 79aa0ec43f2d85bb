import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { verifyEnvelope } from '../signing/dsse.js';
import type { DsseEnvelope } from '../signing/envelope.js';
import type { VerificationKey } from '../signing/public-key.js';
import { DEFAULT_MAX_LINE_BYTES, GENESIS_HASH, type JournalEntry } from './journal-line.js';
import { scanJournal } from './journal-scan.js';

/**
 * Journal anchors: the chain head signed with the provenance signing key, journaled as a line
 * of its own. The hash chain alone is unkeyed: whoever can write the file can rewrite a line and
 * recompute every hash after it. An anchor fixes (seq, hash) of a line with a key the build cannot
 * use, so a rewrite is detected at the first anchor after the rewritten line.
 *
 * A line `{"kind":"journal.anchor","data":{"envelope":<DSSE>}}`; the envelope's payload (type
 * ANCHOR_PAYLOAD_TYPE) is the JSON of AnchorPayload. The payload is the only source of truth;
 * nothing else in the line is trusted.
 */
export const ANCHOR_KIND = 'journal.anchor';
export const ANCHOR_PAYLOAD_TYPE = 'application/vnd.provenance-proxy.journal-anchor.v1+json';

export type AnchorReason = 'start' | 'interval' | 'finalize' | 'close';

export interface AnchorPayload {
  /** File name of the journal: an anchor cannot be moved to another journal. */
  readonly journal: string;
  /** The anchored line (0 and GENESIS_HASH for an empty journal). */
  readonly seq: number;
  readonly hash: string;
  readonly reason: AnchorReason;
  /** The build invocation: an anchor cannot be moved to another build's journal either. */
  readonly invocationId: string;
  readonly at: string;
}

export function anchorPayloadBytes(payload: AnchorPayload): Buffer {
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** What `journal verify --public-key` found about a journal's anchors. */
export interface AnchorReport {
  /** Anchor lines found. */
  readonly anchors: number;
  /** Highest seq a valid anchor vouches for (null when none does). */
  readonly anchoredThrough: number | null;
  /** Good lines after `anchoredThrough` that no signature covers (the anchors themselves included). */
  readonly unanchored: number;
  /**
   * The last line is a valid finalize or close anchor of the line just before it: nothing was added
   * after the proxy sealed it, and the tail was not cut back to an interval anchor. A cut back to an
   * earlier seal (a build that went on after a finalize) cannot be told from the file alone.
   */
  readonly sealed: boolean;
  readonly invocationIds: readonly string[];
  /** Anchors that do not verify or do not match the file: the journal was rewritten. */
  readonly problems: readonly AnchorProblem[];
}

/**
 * `unverified`: the anchor is not signed by a given key (another key, a forged or damaged anchor);
 * `rewritten`: it is, and the line it signed has changed since.
 */
export interface AnchorProblem {
  readonly line: number;
  readonly kind: 'unverified' | 'rewritten';
  readonly message: string;
}

interface Claim {
  readonly line: number;
  readonly seq: number;
  readonly hash: string;
  readonly reason: AnchorReason;
}

/**
 * Checks every anchor of a journal whose chain is intact (up to `goodEntries`): its signature with
 * `keys`, that it names this journal, and that the line it names has the hash it signed. Two passes
 * over the file; only the claims are held in memory.
 */
export async function verifyAnchors(
  path: string,
  keys: readonly VerificationKey[],
  goodEntries: number,
): Promise<AnchorReport> {
  const name = basename(path);
  const claims: Claim[] = [];
  const problems: AnchorProblem[] = [];
  const invocationIds = new Set<string>();
  let anchors = 0;
  let lastSeq = 0;
  let lastAnchorLine = 0;
  await scanEntries(path, goodEntries, (entry) => {
    lastSeq = entry.seq;
    if (entry.kind !== ANCHOR_KIND) return;
    anchors++;
    lastAnchorLine = entry.seq;
    const verdict = judgeAnchor(entry, keys, name);
    if (typeof verdict === 'string') problems.push({ line: entry.seq, kind: 'unverified', message: verdict });
    else {
      claims.push({ line: entry.seq, seq: verdict.seq, hash: verdict.hash, reason: verdict.reason });
      invocationIds.add(verdict.invocationId);
    }
  });
  const wanted = new Map<number, Claim[]>();
  for (const claim of claims) wanted.set(claim.seq, [...(wanted.get(claim.seq) ?? []), claim]);
  const check = (seq: number, hash: string) => {
    for (const claim of wanted.get(seq) ?? []) {
      if (claim.hash !== hash)
        problems.push({
          line: claim.line,
          kind: 'rewritten',
          message: `anchor signed seq ${seq} with hash ${claim.hash}, the journal has ${hash}: the journal was rewritten`,
        });
    }
  };
  check(0, GENESIS_HASH);
  await scanEntries(path, goodEntries, (entry) => check(entry.seq, entry.hash));
  const valid = claims.filter((c) => !problems.some((p) => p.line === c.line));
  const anchoredThrough = valid.length === 0 ? null : Math.max(...valid.map((c) => c.seq));
  const closing = valid.find((c) => c.line === lastAnchorLine);
  return {
    anchors,
    anchoredThrough,
    unanchored: lastSeq - (anchoredThrough ?? 0),
    // Only finalize and close seal: the tail cut back to an interval anchor must not look finished.
    sealed:
      closing !== undefined &&
      (closing.reason === 'finalize' || closing.reason === 'close') &&
      lastAnchorLine === lastSeq &&
      closing.seq === lastSeq - 1,
    invocationIds: [...invocationIds],
    problems: problems.sort((a, b) => a.line - b.line),
  };
}

/** The verified payload of an anchor line, or why it is not one. */
function judgeAnchor(
  entry: JournalEntry,
  keys: readonly VerificationKey[],
  journal: string,
): AnchorPayload | string {
  const envelope = (entry.data as { envelope?: DsseEnvelope } | null)?.envelope;
  const verified = verifyEnvelope(envelope, keys);
  if (!verified.ok) return `anchor signature does not verify: ${verified.message}`;
  if (verified.payloadType !== ANCHOR_PAYLOAD_TYPE) return `anchor payload type is ${verified.payloadType}`;
  let payload: AnchorPayload;
  try {
    payload = JSON.parse(verified.payload.toString('utf8')) as AnchorPayload;
  } catch {
    return 'anchor payload is not JSON';
  }
  if (payload.journal !== journal) return `anchor was made for journal ${payload.journal}, not ${journal}`;
  if (!Number.isSafeInteger(payload.seq) || payload.seq < 0 || payload.seq >= entry.seq)
    return `anchor names seq ${payload.seq}, which does not precede it`;
  if (typeof payload.hash !== 'string') return 'anchor payload has no hash';
  return payload;
}

async function scanEntries(
  path: string,
  limit: number,
  onEntry: (entry: JournalEntry) => void,
): Promise<void> {
  const file = await open(path, 'r');
  try {
    let seen = 0;
    await scanJournal(file, {
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      onEntry: (entry) => {
        if (seen++ < limit) onEntry(entry);
      },
    });
  } finally {
    await file.close();
  }
}
