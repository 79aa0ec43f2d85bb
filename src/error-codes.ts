import type { ExitName } from './exit-codes.js';

/**
 * The one catalogue of error codes: every `code` the proxy and its commands raise or answer with,
 * what it means, whether trying the same thing again may succeed (`retryable`, the default of an
 * error made with that code; the place that makes the error may decide otherwise, e.g. an HTTP
 * answer's status), and, when the error ends a command, its exit status (`exit`, default `failed`).
 *
 * Codes are stable interface: they appear in logs, metrics labels, journal anomalies, dead letters
 * and the bodies of answers the proxy and the store write. Never rename or reuse one; add rows.
 * docs/errors.md lists every row; test/unit/error-catalogue.test.ts checks both against each other.
 */
interface CodeRow {
  readonly meaning: string;
  readonly retryable: boolean;
  readonly exit?: ExitName;
}

export const ERROR_CODES = {
  // Commands and options
  ERR_INVALID_OPTION: {
    meaning: 'a start-up option is missing or breaks its rule',
    retryable: false,
    exit: 'usage',
  },
  ERR_USAGE: { meaning: 'the command line is not one the command accepts', retryable: false, exit: 'usage' },
  ERR_VERIFY_USAGE: {
    meaning: "`verify`'s command line is not one it accepts",
    retryable: false,
    exit: 'usage',
  },
  ERR_VERIFY: { meaning: '`verify` refused the provenance, or could not read its inputs', retryable: false },
  ERR_REPORT_USAGE: {
    meaning: "`report`'s command line is not one it accepts",
    retryable: false,
    exit: 'usage',
  },
  ERR_REPORT: { meaning: '`report` could not write the Tekton results', retryable: false },
  ERR_CAPTURE_RULES: {
    meaning: 'a netfilter tool failed while applying or reading the capture rules',
    retryable: false,
  },
  ERR_DATA_DIR_LOCKED: { meaning: 'another live process holds the data directory', retryable: true },
  ERR_CA: { meaning: 'the certificate authority could not be loaded or minted', retryable: false },
  ERR_CONTROL_UNAVAILABLE: {
    meaning: "the proxy's control server could not be reached, or refused the request",
    retryable: true,
    exit: 'unavailable',
  },
  ERR_DESTINATION_REFUSED: {
    meaning: 'the destination policy refused the address a host resolved to',
    retryable: false,
  },

  // Journal
  ERR_JOURNAL_CHAIN: {
    meaning: "a journal line's hash or the chain to it is broken",
    retryable: false,
    exit: 'journalBroken',
  },
  ERR_JOURNAL_PARSE: {
    meaning: 'a journal line is not JSON or not a journal record',
    retryable: false,
    exit: 'journalBroken',
  },
  ERR_JOURNAL_TORN: {
    meaning: "the journal's last line is torn (an unfinished write)",
    retryable: false,
    exit: 'journalTorn',
  },
  ERR_JOURNAL_IO: {
    meaning: 'the journal could not be opened, read, written or synced, or is closed',
    retryable: false,
    exit: 'unavailable',
  },
  ERR_JOURNAL_RECORD_KIND: {
    meaning: 'an observation journal line has a kind this proxy does not know (written by a newer one)',
    retryable: false,
  },
  ERR_JOURNAL_RECORD_VERSION: {
    meaning: 'an observation journal line has a version of its kind this proxy cannot read',
    retryable: false,
  },
  ERR_JOURNAL_RECORD_SHAPE: {
    meaning: "an observation journal line's data breaks its kind's shape",
    retryable: false,
  },
  ERR_JOURNAL_ENTRY: { meaning: 'a value cannot be journaled (not plain JSON)', retryable: false },
  ERR_JOURNAL_PAGE: { meaning: 'a journal page request has an invalid parameter', retryable: false },

  // OCI interpretation
  ERR_OCI_DIGEST: { meaning: 'a digest is malformed or uses an unsupported algorithm', retryable: false },
  ERR_OCI_NAME: { meaning: 'a repository name breaks the distribution grammar', retryable: false },
  ERR_OCI_REFERENCE: { meaning: 'a manifest reference is neither a tag nor a digest', retryable: false },
  ERR_OCI_ROUTE: { meaning: 'a path under /v2/ names no OCI endpoint', retryable: false },
  ERR_OCI_MANIFEST: { meaning: 'a manifest breaks the structure its media type requires', retryable: false },

  // Provenance and signing
  ERR_PROVENANCE_TOO_LARGE: {
    meaning: 'a statement would exceed the size a store accepts',
    retryable: false,
  },
  ERR_PROVENANCE_CONTEXT: { meaning: 'a provenance context field breaks its rule', retryable: false },
  ERR_SIGNING_KEY_UNREADABLE: {
    meaning: 'the signing key file cannot be read',
    retryable: false,
    exit: 'unavailable',
  },
  ERR_SIGNING_KEY_INVALID: {
    meaning: 'the signing key file holds no usable private key',
    retryable: false,
    exit: 'usage',
  },
  ERR_SIGNING_KEY_ENCRYPTED: { meaning: 'the signing key is encrypted', retryable: false, exit: 'usage' },
  ERR_SIGNING_KEY_UNSUPPORTED: {
    meaning: 'the signing key is not ECDSA P-256 or Ed25519',
    retryable: false,
    exit: 'usage',
  },
  ERR_SIGNING_KEYID_INVALID: {
    meaning: 'the signing key id breaks its rule',
    retryable: false,
    exit: 'usage',
  },
  ERR_SIGNING_FAILED: { meaning: 'signing with a loaded key failed', retryable: false },
  ERR_PUBLIC_KEY_INVALID: {
    meaning: 'a public key file is not a PEM public key',
    retryable: false,
    exit: 'usage',
  },
  ERR_PUBLIC_KEY_UNSUPPORTED: {
    meaning: 'a public key is not ECDSA P-256 or Ed25519',
    retryable: false,
    exit: 'usage',
  },
  ERR_BASE64_INVALID: { meaning: 'a field is not valid base64', retryable: false },
  ERR_DSSE_MALFORMED: { meaning: 'a DSSE envelope is malformed', retryable: false },

  // Outbox and sinks
  ERR_OUTBOX_CLOSED: { meaning: 'a report was handed to an outbox that is closing', retryable: false },
  ERR_OUTBOX_UNKNOWN_SINK: { meaning: 'a report names a sink that is not configured', retryable: false },
  ERR_OUTBOX_REPORT: { meaning: 'a report lacks its reportId', retryable: false },
  ERR_OUTBOX_REPLAY: { meaning: 'an outbox journal record cannot be replayed', retryable: false },
  ERR_UNEXPECTED: {
    meaning: 'a sink threw an untyped error (a bug): retried, logged as an error',
    retryable: true,
  },
  ERR_SINK: {
    meaning: 'a sink (the attestation sink) could not deliver; retryable as the answer says',
    retryable: true,
  },
  ERR_ATTESTATION_DENIED: {
    meaning: "the registry's policy refused the attestation (403 DENIED): dead-lettered at once",
    retryable: false,
  },
  ERR_ATTESTATION_REGISTRY: {
    meaning: 'the registry answered an attachment step with a status it needs; retryable as the status says',
    retryable: true,
  },
  ERR_SINK_FILE_IO: { meaning: 'the file sink hit a transient I/O error', retryable: true },
  ERR_SINK_FILE_ACCESS: { meaning: 'the file sink cannot write its directory', retryable: true },
  ERR_SINK_FILE_CONFIG: {
    meaning: 'the file sink directory (--provenance-dir) is unusable at start',
    retryable: false,
    exit: 'usage',
  },
  ERR_SINK_FILE_REPORT: { meaning: 'the file sink got a report without an envelope', retryable: false },
  ERR_SINK_GRAFEAS: { meaning: 'the Grafeas sink failed unexpectedly', retryable: true },
  ERR_SINK_GRAFEAS_AUTH: { meaning: 'the Grafeas store refused the credentials (401/403)', retryable: true },
  ERR_SINK_GRAFEAS_HTTP: {
    meaning:
      'the Grafeas store answered an error; final only for proven-malformed (400 INVALID_ARGUMENT) or 413',
    retryable: true,
  },
  ERR_SINK_GRAFEAS_NETWORK: {
    meaning: 'the Grafeas store could not be reached or timed out',
    retryable: true,
  },
  ERR_SINK_GRAFEAS_TOKEN: { meaning: 'the Grafeas token file is unreadable or empty', retryable: true },
  ERR_SINK_GRAFEAS_REPORT: {
    meaning: 'the report cannot be mapped to Grafeas occurrences',
    retryable: false,
  },
  ERR_SINK_GRAFEAS_PROTOCOL: {
    meaning: 'the Grafeas store answered 2xx with something that is not JSON',
    retryable: true,
  },

  // Grafeas client and store (ERR_GRAFEAS_<google.rpc.Code> for API errors)
  ERR_GRAFEAS_TOKEN: { meaning: 'the Grafeas token file is unreadable or empty', retryable: true },
  ERR_GRAFEAS_NETWORK: {
    meaning: 'the Grafeas server could not be reached',
    retryable: true,
    exit: 'unavailable',
  },
  ERR_GRAFEAS_TIMEOUT: {
    meaning: 'the Grafeas server did not answer in time',
    retryable: true,
    exit: 'unavailable',
  },
  ERR_GRAFEAS_PROTOCOL: {
    meaning: 'the Grafeas server answered 2xx with something that is not a JSON object',
    retryable: true,
  },
  ERR_GRAFEAS_MAPPING: { meaning: 'a statement cannot be mapped to Grafeas occurrences', retryable: false },
  ERR_GRAFEAS_INVALID_ARGUMENT: { meaning: 'Grafeas: the request is invalid (400)', retryable: false },
  ERR_GRAFEAS_FAILED_PRECONDITION: {
    meaning: 'Grafeas: the system is not in a state for the request (400)',
    retryable: false,
  },
  ERR_GRAFEAS_OUT_OF_RANGE: {
    meaning: 'Grafeas: a value is out of range, e.g. a page token (400)',
    retryable: false,
  },
  ERR_GRAFEAS_UNAUTHENTICATED: { meaning: 'Grafeas: no or an unknown token (401)', retryable: false },
  ERR_GRAFEAS_PERMISSION_DENIED: {
    meaning: "Grafeas: the token's role does not allow this (403)",
    retryable: false,
  },
  ERR_GRAFEAS_NOT_FOUND: { meaning: 'Grafeas: no such project, note or occurrence (404)', retryable: false },
  ERR_GRAFEAS_ALREADY_EXISTS: {
    meaning: 'Grafeas: the note or occurrence exists already (409)',
    retryable: false,
  },
  ERR_GRAFEAS_ABORTED: { meaning: 'Grafeas: a concurrent change aborted the request (409)', retryable: true },
  ERR_GRAFEAS_RESOURCE_EXHAUSTED: {
    meaning: 'Grafeas: a quota or size limit was hit (429)',
    retryable: true,
  },
  ERR_GRAFEAS_CANCELLED: { meaning: 'Grafeas: the client cancelled the request (499)', retryable: true },
  ERR_GRAFEAS_INTERNAL: { meaning: 'Grafeas: the server failed (500)', retryable: true },
  ERR_GRAFEAS_UNKNOWN: {
    meaning: 'Grafeas: an unknown error, or a status name this code does not know (500)',
    retryable: true,
  },
  ERR_GRAFEAS_DATA_LOSS: { meaning: 'Grafeas: unrecoverable data loss (500)', retryable: false },
  ERR_GRAFEAS_UNIMPLEMENTED: { meaning: 'Grafeas: the method is not implemented (501)', retryable: false },
  ERR_GRAFEAS_UNAVAILABLE: { meaning: 'Grafeas: the server is unavailable (503)', retryable: true },
  ERR_GRAFEAS_DEADLINE_EXCEEDED: { meaning: 'Grafeas: the request ran out of time (504)', retryable: true },
  ERR_STORE_DATABASE_OPEN: {
    meaning: "the store's database cannot be opened or reached",
    retryable: true,
    exit: 'unavailable',
  },
  ERR_STORE_DATABASE_MIGRATE: { meaning: "the store's schema migration failed", retryable: false },
  ERR_STORE_DATABASE_SCHEMA: {
    meaning: "the store's database has a schema this version does not know",
    retryable: false,
  },
  ERR_STORE_NOTES_EXIST: {
    meaning: 'some notes to insert exist already; nothing was inserted',
    retryable: false,
  },

  // Verification
  ERR_VERIFY_REFERENCE: {
    meaning: 'the image reference to verify is not registry/repository@sha256:<hex>',
    retryable: false,
    exit: 'usage',
  },
  ERR_VERIFY_SOURCE_FILE: {
    meaning: 'the envelope file cannot be read or holds no envelope',
    retryable: false,
    exit: 'unavailable',
  },
  ERR_VERIFY_SOURCE_GRAFEAS: {
    meaning: 'the Grafeas store did not give the occurrences',
    retryable: true,
    exit: 'unavailable',
  },

  // Injector
  ERR_INJECT_CONFIG: { meaning: 'the injector config breaks a rule', retryable: false, exit: 'usage' },
  ERR_ADMISSION_REVIEW: {
    meaning: 'the webhook got something that is not an AdmissionReview',
    retryable: false,
  },

  // Credential broker
  ERR_REGISTRY_AUTH_FILE: {
    meaning: '--registry-auth is not a Docker config.json the broker can use',
    retryable: false,
    exit: 'usage',
  },
  ERR_REGISTRY_TOKEN: {
    meaning: "the registry's challenge or token service gave no usable token",
    retryable: true,
  },

  // Control server answers
  ERR_INTERNAL: { meaning: 'the control server failed answering (500)', retryable: true },
  ERR_NOT_FOUND: { meaning: 'the control server has no such endpoint (404)', retryable: false },
  ERR_METHOD: { meaning: 'the method is not allowed on this control endpoint (405)', retryable: false },
  ERR_UNAUTHORIZED: { meaning: 'no or a wrong control token (401)', retryable: false },
  ERR_FORBIDDEN: { meaning: 'the read token opens only the read-only views (403)', retryable: false },
} as const satisfies Record<`ERR_${string}`, CodeRow>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The exit status an error with this code ends a command with. */
export function exitNameOf(code: ErrorCode): ExitName {
  const row: CodeRow = ERROR_CODES[code];
  return row.exit ?? 'failed';
}
