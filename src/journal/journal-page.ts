import { InvalidJournalPageError } from './journal-errors.js';
import type { JournalEntry } from './journal-line.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** `GET /v1/observations?after=<seq>&limit=<n>`: entries with seq > after, at most limit of them. */
export interface JournalPageRequest {
  readonly after: number;
  readonly limit: number;
}

export interface JournalPage {
  readonly entries: JournalEntry[];
  /** Pass as `after` to get the next page: the last returned seq, or `after` itself when none. */
  readonly next: number;
  /** True when entries after `next` already exist (false means: caught up, poll again later). */
  readonly hasMore: boolean;
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/** Parses the query parameters once, with defaults, so the control endpoint can answer 400 on bad ones. */
export function parseJournalPageQuery(query: URLSearchParams): JournalPageRequest {
  return {
    after: parseParameter(query.get('after'), 'after', 0),
    limit: parseParameter(query.get('limit'), 'limit', DEFAULT_PAGE_LIMIT),
  };
}

function parseParameter(raw: string | null, name: 'after' | 'limit', fallback: number): number {
  if (raw === null || raw === '') return fallback;
  if (!DECIMAL.test(raw)) throw new InvalidJournalPageError(name, 'must be a non-negative decimal integer');
  const value = Number(raw);
  assertPageRequest({ after: name === 'after' ? value : 0, limit: name === 'limit' ? value : 1 });
  return value;
}

export function assertPageRequest(request: JournalPageRequest): void {
  if (!Number.isSafeInteger(request.after) || request.after < 0) {
    throw new InvalidJournalPageError('after', 'must be an integer >= 0');
  }
  if (!Number.isSafeInteger(request.limit) || request.limit < 1 || request.limit > MAX_PAGE_LIMIT) {
    throw new InvalidJournalPageError('limit', `must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
}
