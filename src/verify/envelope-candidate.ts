/** An envelope to try, and where it came from (a file line, an occurrence name) for messages. */
export interface EnvelopeCandidate {
  readonly source: string;
  /** Parsed JSON, not yet known to be a DSSE envelope. */
  readonly envelope: unknown;
}
