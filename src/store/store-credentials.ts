import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { InvalidOptionError } from '../errors.js';
import { isProjectId } from '../grafeas/names.js';

/** What a request does to the store; routes declare theirs. */
export type StoreAccess = 'read' | 'create' | 'update' | 'delete';

/**
 * `reader`: list and get. `writer` (a sidecar): reader plus create notes and occurrences, never
 * delete (nothing can update). `admin`: writer plus delete.
 */
export type StoreRole = 'reader' | 'writer' | 'admin';

const ROLE_ACCESS: Record<StoreRole, readonly StoreAccess[]> = {
  reader: ['read'],
  writer: ['read', 'create'],
  // No route updates anything (UNIMPLEMENTED); only an admin gets as far as being told so.
  admin: ['read', 'create', 'update', 'delete'],
};

/** Who a bearer token belongs to; `name` is the only thing about it that is ever logged. */
export interface StorePrincipal {
  readonly name: string;
  readonly role: StoreRole;
  /** Project ids, or `*` for every project. */
  readonly projects: readonly string[];
}

interface Entry extends StorePrincipal {
  readonly digest: Buffer;
}

/** Whether `principal` may do `access` in `project`. */
export function permits(principal: StorePrincipal, access: StoreAccess, project: string): boolean {
  if (!ROLE_ACCESS[principal.role].includes(access)) return false;
  return principal.projects.includes('*') || principal.projects.includes(project);
}

const MIN_TOKEN_LENGTH = 16;
const OPTION = '--tokens-file';

/**
 * The store's bearer tokens, read from `--tokens-file` (JSON, never argv):
 *
 *     { "tokens": [
 *         { "name": "sidecars-builds", "role": "writer", "projects": ["builds"], "token": "…" },
 *         { "name": "ops", "role": "admin", "projects": ["*"], "sha256": "<hex of the token>" } ] }
 *
 * Only SHA-256 digests are kept in memory and compared, in constant time, against every entry,
 * so neither a token's bytes, its length nor its position leak through timing. The file is
 * checked again (at most once a second) and re-read when it changed, as Kubernetes rewrites a
 * mounted Secret in place; a broken new version is refused loudly and the previous one kept.
 */
export class StoreCredentials {
  readonly #path: string;
  #logger: Logger | undefined;
  #entries: readonly Entry[];
  #version: string;
  #checkedAt = 0;

  private constructor(path: string, entries: readonly Entry[], version: string, logger?: Logger) {
    this.#path = path;
    this.#entries = entries;
    this.#version = version;
    this.#logger = logger;
  }

  /** Reads and checks the file; every rule broken is an InvalidOptionError naming --tokens-file. */
  static load(path: string, logger?: Logger): StoreCredentials {
    const { entries, version } = readTokensFile(path);
    return new StoreCredentials(path, entries, version, logger);
  }

  /** Where reloads are reported (the store's logger, known after the options are parsed). */
  useLogger(logger: Logger): void {
    this.#logger = logger;
  }

  /** The principal an `Authorization` header proves, or undefined. */
  authenticate(header: string | undefined, now = Date.now()): StorePrincipal | undefined {
    this.#refresh(now);
    const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
    if (match === null) return undefined;
    const presented = digest(match[1]!);
    let found: Entry | undefined;
    // Every entry is compared, whatever matched, so the time does not say which one did.
    for (const entry of this.#entries) {
      if (timingSafeEqual(presented, entry.digest) && found === undefined) found = entry;
    }
    return found === undefined ? undefined : { name: found.name, role: found.role, projects: found.projects };
  }

  /** Names and roles, for the start-up log line. */
  summary(): { name: string; role: StoreRole; projects: readonly string[] }[] {
    return this.#entries.map(({ name, role, projects }) => ({ name, role, projects }));
  }

  #refresh(now: number): void {
    if (now - this.#checkedAt < 1000) return;
    this.#checkedAt = now;
    let version: string;
    try {
      version = fileVersion(this.#path);
    } catch (error) {
      this.#logger?.error(
        { path: this.#path, code: (error as NodeJS.ErrnoException).code },
        'store tokens file unreadable: keeping the tokens read before',
      );
      return;
    }
    if (version === this.#version) return;
    try {
      const next = readTokensFile(this.#path);
      this.#entries = next.entries;
      this.#version = next.version;
      this.#logger?.info({ path: this.#path, tokens: this.summary() }, 'store tokens file reloaded');
    } catch (error) {
      this.#version = version;
      this.#logger?.error(
        { path: this.#path, reason: (error as Error).message },
        'store tokens file changed but is invalid: keeping the tokens read before',
      );
    }
  }
}

function fileVersion(path: string): string {
  const stat = statSync(path);
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

function readTokensFile(path: string): { entries: Entry[]; version: string } {
  let text: string;
  let version: string;
  try {
    version = fileVersion(path);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidOptionError(
      OPTION,
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which holds tokens: say only where.
    throw new InvalidOptionError(OPTION, `${path} is not valid JSON`);
  }
  const tokens = (parsed as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new InvalidOptionError(OPTION, `${path} must be {"tokens": [ … ]} with at least one token`);
  }
  const entries = tokens.map((value, i) => readEntry(value, `${path}: tokens[${i}]`));
  const names = new Set<string>();
  const digests = new Set<string>();
  for (const entry of entries) {
    if (names.has(entry.name))
      throw new InvalidOptionError(OPTION, `${path}: name "${entry.name}" given twice`);
    names.add(entry.name);
    const hex = entry.digest.toString('hex');
    if (digests.has(hex)) {
      throw new InvalidOptionError(OPTION, `${path}: "${entry.name}" reuses another entry's token`);
    }
    digests.add(hex);
  }
  return { entries, version };
}

function readEntry(value: unknown, where: string): Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(OPTION, `${where} must be an object`);
  }
  const { name, role, projects, token, sha256, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidOptionError(OPTION, `${where}: unknown field ${unknown[0]}`);
  if (typeof name !== 'string' || !/^[\w.@-]{1,100}$/.test(name)) {
    throw new InvalidOptionError(OPTION, `${where}.name must be 1-100 letters, digits, . _ @ -`);
  }
  if (role !== 'reader' && role !== 'writer' && role !== 'admin') {
    throw new InvalidOptionError(OPTION, `${where}.role must be reader, writer or admin`);
  }
  if (
    !Array.isArray(projects) ||
    projects.length === 0 ||
    !projects.every((p) => p === '*' || (typeof p === 'string' && isProjectId(p)))
  ) {
    throw new InvalidOptionError(OPTION, `${where}.projects must be a non-empty list of project ids or "*"`);
  }
  let tokenDigest: Buffer;
  if (typeof token === 'string' && sha256 === undefined) {
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new InvalidOptionError(
        OPTION,
        `${where}.token must be at least ${MIN_TOKEN_LENGTH} characters, without spaces`,
      );
    }
    tokenDigest = digest(token);
  } else if (typeof sha256 === 'string' && token === undefined && /^[0-9a-f]{64}$/i.test(sha256)) {
    tokenDigest = Buffer.from(sha256, 'hex');
  } else {
    throw new InvalidOptionError(OPTION, `${where} needs either token or sha256 (64 hex digits), not both`);
  }
  return { name, role, projects: [...(projects as string[])], digest: tokenDigest };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
