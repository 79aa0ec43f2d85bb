import type { GrafeasService, ListParams } from './grafeas-service.js';
import type { StoreAccess } from './store-credentials.js';

/** What the HTTP layer parsed from one request. */
export interface RouteInput {
  /** Path parameters, percent-decoded, in the order of the pattern's groups. */
  readonly params: readonly string[];
  /** Query parameters by canonical name. */
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body (routes with `body: true`). */
  readonly body: unknown;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  readonly pattern: RegExp;
  /** The rpc of grafeas.proto this route serves, for logs and messages. */
  readonly rpc: string;
  /** Query parameters accepted: canonical (JSON) name → the proto field name also accepted. */
  readonly query: Readonly<Record<string, string>>;
  readonly body: boolean;
  /** What a caller must be allowed in the path's project (store-credentials.ts). */
  readonly access: StoreAccess;
  /** undefined: defined by v1 but refused by this store (UNIMPLEMENTED). */
  readonly run?: (service: GrafeasService, input: RouteInput) => Promise<unknown>;
}

const PROJECT = '/v1/projects/([^/]+)';
const LIST_QUERY = { filter: 'filter', pageSize: 'page_size', pageToken: 'page_token' };

function list(input: RouteInput): ListParams {
  const { filter, pageSize, pageToken } = input.query;
  return {
    ...(filter !== undefined ? { filter } : {}),
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(pageToken !== undefined ? { pageToken } : {}),
  };
}

/**
 * The Grafeas v1 REST routes (grafeas.proto's google.api.http bindings for `projects/*`) this
 * store serves. Updates and note deletion are defined by v1 but refused: stored provenance is
 * not changed after the fact.
 */
export const ROUTES: readonly Route[] = [
  {
    method: 'POST',
    pattern: new RegExp(`^${PROJECT}/notes$`),
    rpc: 'CreateNote',
    query: { noteId: 'note_id' },
    body: true,
    access: 'create',
    run: (s, i) => s.createNote(i.params[0]!, i.query.noteId, i.body),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${PROJECT}/notes:batchCreate$`),
    rpc: 'BatchCreateNotes',
    query: {},
    body: true,
    access: 'create',
    run: (s, i) => s.batchCreateNotes(i.params[0]!, i.body),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/notes$`),
    rpc: 'ListNotes',
    query: LIST_QUERY,
    body: false,
    access: 'read',
    run: (s, i) => s.listNotes(i.params[0]!, list(i)),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/notes/([^/:]+)$`),
    rpc: 'GetNote',
    query: {},
    body: false,
    access: 'read',
    run: (s, i) => s.getNote(i.params[0]!, i.params[1]!),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/notes/([^/:]+)/occurrences$`),
    rpc: 'ListNoteOccurrences',
    query: LIST_QUERY,
    body: false,
    access: 'read',
    run: (s, i) => s.listNoteOccurrences(i.params[0]!, i.params[1]!, list(i)),
  },
  {
    method: 'PATCH',
    pattern: new RegExp(`^${PROJECT}/notes/([^/:]+)$`),
    rpc: 'UpdateNote',
    query: {},
    body: false,
    access: 'update',
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^${PROJECT}/notes/([^/:]+)$`),
    rpc: 'DeleteNote',
    query: {},
    body: false,
    access: 'delete',
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${PROJECT}/occurrences$`),
    rpc: 'CreateOccurrence',
    query: {},
    body: true,
    access: 'create',
    run: (s, i) => s.createOccurrence(i.params[0]!, i.body),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${PROJECT}/occurrences:batchCreate$`),
    rpc: 'BatchCreateOccurrences',
    query: {},
    body: true,
    access: 'create',
    run: (s, i) => s.batchCreateOccurrences(i.params[0]!, i.body),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/occurrences$`),
    rpc: 'ListOccurrences',
    query: LIST_QUERY,
    body: false,
    access: 'read',
    run: (s, i) => s.listOccurrences(i.params[0]!, list(i)),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/occurrences:vulnerabilitySummary$`),
    rpc: 'GetVulnerabilityOccurrencesSummary',
    query: {},
    body: false,
    access: 'read',
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/occurrences/([^/:]+)$`),
    rpc: 'GetOccurrence',
    query: {},
    body: false,
    access: 'read',
    run: (s, i) => s.getOccurrence(i.params[0]!, i.params[1]!),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${PROJECT}/occurrences/([^/:]+)/notes$`),
    rpc: 'GetOccurrenceNote',
    query: {},
    body: false,
    access: 'read',
    run: (s, i) => s.getOccurrenceNote(i.params[0]!, i.params[1]!),
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^${PROJECT}/occurrences/([^/:]+)$`),
    rpc: 'DeleteOccurrence',
    query: {},
    body: false,
    access: 'delete',
    run: (s, i) => s.deleteOccurrence(i.params[0]!, i.params[1]!),
  },
  {
    method: 'PATCH',
    pattern: new RegExp(`^${PROJECT}/occurrences/([^/:]+)$`),
    rpc: 'UpdateOccurrence',
    query: {},
    body: false,
    access: 'update',
  },
];

/** The route for a method and path, or undefined. `allowed` lists the methods the path has, for a 404 that says so. */
export function matchRoute(
  method: string,
  path: string,
): { route: Route; params: string[] } | { route: undefined; allowed: string[] } {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (m === null) continue;
    if (route.method === method) return { route, params: m.slice(1) };
    allowed.push(route.method);
  }
  return { route: undefined, allowed };
}
