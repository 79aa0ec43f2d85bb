import { NO_REDIRECTS, type PendingRedirects } from './redirects.js';
import { NO_TOKEN_REALMS, type TokenRealms } from './token-realms.js';
import { NO_SESSIONS, type UploadSessions } from './upload-sessions.js';

/**
 * What the interpreter carries from one exchange to the next. Values are immutable; Hash objects
 * in them are shared and never fed (copied before digesting).
 */
export interface InterpreterState {
  readonly sessions: UploadSessions;
  readonly redirects: PendingRedirects;
  readonly tokenRealms: TokenRealms;
}

export const INITIAL_INTERPRETER_STATE: InterpreterState = Object.freeze({
  sessions: NO_SESSIONS,
  redirects: NO_REDIRECTS,
  tokenRealms: NO_TOKEN_REALMS,
});
