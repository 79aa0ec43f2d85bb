import type { Logger } from 'pino';
import { JournalError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import {
  ANCHOR_KIND,
  ANCHOR_PAYLOAD_TYPE,
  type AnchorReason,
  anchorPayloadBytes,
  verifyAnchors,
} from '../journal/journal-anchor.js';
import type { Signer } from '../signing/envelope.js';
import { parsePublicKeyPem } from '../signing/public-key.js';

/**
 * Writes journal anchors (journal/journal-anchor.ts): at start, every `intervalMs` while lines keep
 * coming, at each finalize and at close. Anchors are made one at a time; a failed one is logged and
 * the next tries again (the journal stays valid, only less of it is signed).
 */
export class JournalAnchors {
  readonly #journal: Journal;
  readonly #signer: Signer;
  readonly #invocationId: string;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | null = null;
  #queue: Promise<void> = Promise.resolve();
  /** Seq of the last anchor line this process wrote, and whether it sealed the journal. */
  #lastAnchorLine = -1;
  #lastSealed = false;

  constructor(journal: Journal, signer: Signer, opts: { invocationId: string; logger: Logger }) {
    this.#journal = journal;
    this.#signer = signer;
    this.#invocationId = opts.invocationId;
    this.#logger = opts.logger;
  }

  /** Anchors every `intervalMs` when something was journaled since the last anchor; 0 disables. */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => void this.anchor('interval'), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Signs the committed head and journals the anchor; resolves once it is on disk (or failed). */
  anchor(reason: AnchorReason): Promise<void> {
    this.#queue = this.#queue.then(() => this.#anchorNow(reason));
    return this.#queue;
  }

  async #anchorNow(reason: AnchorReason): Promise<void> {
    const seq = this.#journal.lastSeq;
    const sealing = reason === 'finalize' || reason === 'close';
    // Nothing new since our last anchor: the journal already ends signed (and sealed, if asked).
    if ((seq === this.#lastAnchorLine && (!sealing || this.#lastSealed)) || !this.#journal.writable) return;
    try {
      const payload = anchorPayloadBytes({
        journal: this.#journal.name,
        seq,
        hash: this.#journal.lastHash,
        reason,
        invocationId: this.#invocationId,
        at: new Date().toISOString(),
      });
      const envelope = await this.#signer.sign(ANCHOR_PAYLOAD_TYPE, payload);
      const receipt = await this.#journal.append(ANCHOR_KIND, { envelope });
      this.#lastAnchorLine = receipt.seq;
      this.#lastSealed = sealing;
    } catch (error) {
      this.#logger.error({ err: error, reason }, 'could not anchor the journal');
    }
  }
}

/**
 * A journal whose own anchors (signed with this proxy's key) no longer match its lines was
 * rewritten, hashes recomputed: replaying it would sign forged observations, so the proxy refuses
 * to start, as it does on a broken chain. Anchors another key signed (a key rotated mid-build) do
 * not prove a rewrite and are only reported. An ephemeral key has no earlier anchors to check.
 */
export async function refuseRewrittenJournal(
  journal: Journal,
  signer: Signer,
  logger: Logger,
): Promise<void> {
  if (signer.ephemeral || journal.lastSeq === 0) return;
  const report = await verifyAnchors(journal.path, [parsePublicKeyPem(signer.publicKeyPem)], journal.lastSeq);
  const rewritten = report.problems.find((p) => p.kind === 'rewritten');
  if (rewritten !== undefined)
    throw new JournalError(
      'ERR_JOURNAL_CHAIN',
      `${journal.path}: line ${rewritten.line}: ${rewritten.message}`,
    );
  if (report.problems.length > 0)
    logger.warn(
      { journal: journal.path, unverified: report.problems.length, first: report.problems[0] },
      'journal anchors not signed by the current key (was it rotated mid-build?)',
    );
}
