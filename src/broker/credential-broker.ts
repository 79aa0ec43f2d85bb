import type { UpstreamHeaderRewrite, UpstreamHeadersHook } from '../http/completed-exchange.js';
import { type Challenge, parseChallenge } from './challenge.js';
import type { CredentialSource } from './credential-source.js';
import { TokenUnavailableError } from './errors.js';
import type { OwnClient } from './own-client.js';
import type { RegistryCredential } from './registry-auth-file.js';
import { requiredScopes } from './required-scope.js';

/** A token is renewed this long before it expires, or at a tenth of its life if that is shorter. */
const RENEW_BEFORE_MS = 30_000;
/** What `expires_in` means when the token service leaves it out (distribution's token spec). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Tokens kept at once; the oldest goes first. A build touches few repositories. */
const MAX_CACHED_TOKENS = 1024;

interface CachedToken {
  readonly token: string;
  readonly renewAt: number;
}

/**
 * Speaks for the build to registries it holds credentials for: drops the client's
 * `Authorization` and presents its own — Basic where the registry asks for Basic, else a bearer
 * token for exactly the scopes the request needs, fetched from the realm the registry's own
 * challenge names and cached per scope until shortly before it expires. Registries without
 * credentials are left alone (the hook answers null, synchronously).
 */
export class CredentialBroker {
  readonly #source: CredentialSource;
  readonly #client: OwnClient;
  readonly #now: () => number;
  #generation: number;
  readonly #challenges = new Map<string, Promise<Challenge>>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();
  /** Tokens fetched (not served from the cache), for the metric. */
  fetched = 0;

  constructor(source: CredentialSource, client: OwnClient, now: () => number = Date.now) {
    this.#source = source;
    this.#client = client;
    this.#now = now;
    this.#generation = source.generation;
  }

  readonly hook: UpstreamHeadersHook = (head) => {
    if (head.scheme !== 'https') return null;
    const authorization = this.authorization(head.authority, head.method, head.target);
    if (authorization === null) return null;
    return authorization.then(
      (value): UpstreamHeaderRewrite => ({
        remove: ['authorization'],
        set: { authorization: value },
        // Refused although just minted or cached: revoked early, or the registry's policy changed.
        // The next request learns the challenge again and fetches a fresh token.
        onAnswer: (status) => {
          if (status === 401) this.forget(head.authority, value);
        },
      }),
    );
  };

  /** Drops what was learnt for a registry whose answer refused `authorization`. */
  forget(authority: string, authorization: string): void {
    const registry = authority.toLowerCase();
    this.#challenges.delete(registry);
    for (const [key, cached] of this.#tokens)
      if (key.startsWith(`${registry} `) && `Bearer ${cached.token}` === authorization)
        this.#tokens.delete(key);
  }

  /**
   * The `Authorization` value for one request to a registry over https, or null (synchronously)
   * when there are no credentials for it or it is no registry API request. Also used by the
   * proxy's own registry client (attestations).
   */
  authorization(authority: string, method: string, target: string): Promise<string> | null {
    const credential = this.#source.for(authority);
    if (credential === undefined) return null;
    const scopes = requiredScopes(method, target);
    if (scopes === null) return null;
    return this.#authorization(authority.toLowerCase(), credential, scopes);
  }

  async #authorization(
    authority: string,
    credential: RegistryCredential,
    scopes: readonly string[],
  ): Promise<string> {
    this.#dropIfRotated();
    const challenge = await this.#challenge(authority);
    switch (challenge.scheme) {
      case 'none':
      case 'basic':
        if (credential.kind !== 'password')
          throw new TokenUnavailableError(authority, 'an identity token cannot answer a Basic challenge');
        return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
      case 'bearer':
        return `Bearer ${await this.#token(authority, challenge, credential, scopes)}`;
    }
  }

  /** New credentials: whatever was learnt or minted with the old ones goes. */
  #dropIfRotated(): void {
    if (this.#source.generation === this.#generation) return;
    this.#generation = this.#source.generation;
    this.#challenges.clear();
    this.#tokens.clear();
    this.#pending.clear();
  }

  /** The registry's own `/v2/` answer tells how it wants to be spoken to; asked once per registry. */
  #challenge(authority: string): Promise<Challenge> {
    let known = this.#challenges.get(authority);
    if (known === undefined) {
      known = this.#probe(authority);
      this.#challenges.set(authority, known);
      // A failed probe is not remembered: the next request asks again.
      known.catch(() => this.#challenges.delete(authority));
    }
    return known;
  }

  async #probe(authority: string): Promise<Challenge> {
    let response: Awaited<ReturnType<OwnClient['send']>>;
    try {
      response = await this.#client.send(new URL(`https://${authority}/v2/`), 'GET', {});
    } catch (error) {
      throw new TokenUnavailableError(
        authority,
        `the registry did not answer its /v2/ probe (${(error as Error).message})`,
      );
    }
    if (response.status !== 401) return { scheme: 'none' };
    const challenge = parseChallenge(response.headers['www-authenticate']);
    if (challenge === null)
      throw new TokenUnavailableError(authority, 'its 401 names no Basic or Bearer challenge');
    if (challenge.scheme === 'bearer' && !challenge.realm.startsWith('https://'))
      throw new TokenUnavailableError(
        authority,
        'its token realm is not https: credentials are not sent in clear',
      );
    return challenge;
  }

  #token(
    authority: string,
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    credential: RegistryCredential,
    scopes: readonly string[],
  ): Promise<string> {
    const key = `${authority} ${scopes.join(' ')}`;
    const cached = this.#tokens.get(key);
    if (cached !== undefined && cached.renewAt > this.#now()) return Promise.resolve(cached.token);
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      const generation = this.#generation;
      pending = this.#fetchToken(authority, challenge, credential, scopes).then(({ token, lifetimeMs }) => {
        if (generation === this.#generation) {
          this.#tokens.delete(key);
          if (this.#tokens.size >= MAX_CACHED_TOKENS) this.#tokens.delete(this.#tokens.keys().next().value!);
          const renewIn = Math.max(0, lifetimeMs - Math.min(RENEW_BEFORE_MS, lifetimeMs / 10));
          this.#tokens.set(key, { token, renewAt: this.#now() + renewIn });
        }
        return token;
      });
      this.#pending.set(key, pending);
      const settled = () => {
        if (this.#pending.get(key) === pending) this.#pending.delete(key);
      };
      pending.then(settled, settled);
    }
    return pending;
  }

  async #fetchToken(
    authority: string,
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    credential: RegistryCredential,
    scopes: readonly string[],
  ): Promise<{ token: string; lifetimeMs: number }> {
    const url = new URL(challenge.realm);
    let response: Awaited<ReturnType<OwnClient['send']>>;
    try {
      if (credential.kind === 'password') {
        if (challenge.service !== null) url.searchParams.set('service', challenge.service);
        for (const scope of scopes) url.searchParams.append('scope', scope);
        const basic = Buffer.from(`${credential.username}:${credential.password}`).toString('base64');
        response = await this.#client.send(url, 'GET', { authorization: `Basic ${basic}` });
      } else {
        // Docker's OAuth2 refresh-token grant: the identity token is a refresh token.
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: credential.identityToken,
          client_id: 'provenance-proxy',
          scope: scopes.join(' '),
          ...(challenge.service === null ? {} : { service: challenge.service }),
        });
        response = await this.#client.send(
          url,
          'POST',
          { 'content-type': 'application/x-www-form-urlencoded' },
          form.toString(),
        );
      }
    } catch (error) {
      throw new TokenUnavailableError(
        authority,
        `its token service did not answer (${(error as Error).message})`,
      );
    }
    this.fetched++;
    // The body may echo what was sent: it is never quoted.
    if (response.status !== 200)
      throw new TokenUnavailableError(
        authority,
        `its token service answered ${response.status} for ${scopes.join(' ') || 'no scope'}`,
      );
    let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      answer = JSON.parse(response.body.toString('utf8')) as typeof answer;
    } catch {
      throw new TokenUnavailableError(authority, 'its token service answered something that is not JSON');
    }
    const token = typeof answer.token === 'string' ? answer.token : answer.access_token;
    if (typeof token !== 'string' || token === '' || /[\s\r\n]/.test(token))
      throw new TokenUnavailableError(authority, 'its token service answered no usable token');
    const seconds =
      typeof answer.expires_in === 'number' && answer.expires_in > 0
        ? answer.expires_in
        : DEFAULT_TOKEN_SECONDS;
    return { token, lifetimeMs: seconds * 1000 };
  }
}
