/** File names of the journals the proxy keeps in `--data-dir`; `journal verify` checks these by default. */
export const OBSERVATIONS_JOURNAL = 'observations.jsonl';
export const OUTBOX_JOURNAL = 'outbox.jsonl';
export const KNOWN_JOURNALS: readonly string[] = [OBSERVATIONS_JOURNAL, OUTBOX_JOURNAL];
