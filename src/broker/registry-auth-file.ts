import { RegistryAuthFileError } from './errors.js';

/** What the proxy presents for one registry: a user and password, or an OAuth2 refresh token. */
export type RegistryCredential =
  | { readonly kind: 'password'; readonly username: string; readonly password: string }
  | { readonly kind: 'identity-token'; readonly username: string; readonly identityToken: string };

/** Credentials by registry authority (`host:port`, lower case). */
export type RegistryCredentials = ReadonlyMap<string, RegistryCredential>;

/** Docker Hub's historical config key names the index; pushes and pulls go to this host. */
const DOCKER_HUB_KEYS = new Set(['index.docker.io', 'docker.io', 'registry-1.docker.io']);
const DOCKER_HUB = 'registry-1.docker.io:443';

/**
 * Parses a Docker `config.json` (`{"auths": {"registry:port": {"auth": base64(user:pass)}}}`,
 * or `username`/`password`, or `identitytoken`). Keys may carry a scheme and a path
 * (`https://index.docker.io/v1/`); a key without a port means 443. Errors never quote values.
 */
export function parseRegistryAuthFile(text: string): RegistryCredentials {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new RegistryAuthFileError('not JSON');
  }
  const auths = (document as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths))
    throw new RegistryAuthFileError('has no "auths" object');
  const credentials = new Map<string, RegistryCredential>();
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const authority = authorityOf(key);
    if (authority === null)
      throw new RegistryAuthFileError(`"auths" key "${key.slice(0, 200)}" is not a registry`);
    credentials.set(authority, credentialOf(authority, entry));
  }
  return credentials;
}

function authorityOf(key: string): string | null {
  const bare = key
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '');
  const match = /^([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/.exec(bare);
  if (match === null) return null;
  const port = match[2] === undefined ? 443 : Number(match[2]);
  if (port < 1 || port > 65535) return null;
  if (port === 443 && DOCKER_HUB_KEYS.has(match[1]!)) return DOCKER_HUB;
  return `${match[1]}:${port}`;
}

function credentialOf(authority: string, entry: unknown): RegistryCredential {
  const fields = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
  const text = (name: string): string | undefined =>
    typeof fields[name] === 'string' && fields[name] !== '' ? (fields[name] as string) : undefined;
  let username = text('username');
  let password = text('password');
  const auth = text('auth');
  if (auth !== undefined) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1)
      throw new RegistryAuthFileError(`the "auth" of ${authority} is not base64 of user:password`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = text('identitytoken');
  if (identityToken !== undefined)
    return { kind: 'identity-token', username: username ?? '<token>', identityToken };
  if (username === undefined || password === undefined)
    throw new RegistryAuthFileError(
      `${authority} has neither "auth", "username"/"password" nor "identitytoken"`,
    );
  return { kind: 'password', username, password };
}
