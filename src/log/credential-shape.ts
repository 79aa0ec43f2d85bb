/**
 * Whether a piece of a URL path (or a word of free text) looks like a credential. Paths cannot be
 * allow-listed the way query parameters are without losing what provenance needs (which file was
 * downloaded), so path segments are judged by shape; see docs/decisions.md "Redaction by
 * allow-list" for what this catches and what it cannot.
 */

/** Prefixes of tokens that announce themselves (GitHub, GitLab, Slack, AWS, npm, PyPI, Hugging Face, Google, OpenAI, Stripe). */
const KNOWN_PREFIX =
  /^(?:gh[pousr]_|github_pat_|glpat-|gldt-|glrt-|xox[abposr]-|(?:AKIA|ASIA)[A-Z0-9]{12}|npm_|pypi-|hf_|AIza|ya29\.|sk-|sk_live_|rk_live_|pk_live_)/;
/** A JWT / JWS compact serialisation: header.payload.signature, base64url each, header starting `{"`. */
const JWT = /^eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const TOKEN_CHARACTERS = /^[A-Za-z0-9_\-+/=~:]+$/;
const ALPHANUMERIC = /^[A-Za-z0-9]+$/;
/** md5, sha1, sha224, sha256, sha384, sha512 in hex: content identities (commits, digests), kept. */
const CONTENT_HASH = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{56}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$/i;
/** A path segment named like this announces that the next one is a credential (`/token/<t>`, `/keys/<k>`). */
const CREDENTIAL_NAME =
  /^(?:tokens?|keys?|api[-_]?keys?|secrets?|passwords?|passwd|pass|pw|auth|sig|signature|credentials?|sessions?|bearer|jwt|otp|sas|hmac|private)$/i;

export function looksLikeCredential(text: string): boolean {
  if (text.length < 8) return false;
  if (KNOWN_PREFIX.test(text) || JWT.test(text)) return true;
  if (CONTENT_HASH.test(text)) return false;
  // Random-looking: long, made only of token characters, mixing upper case, lower case and digits.
  if (
    text.length >= 20 &&
    TOKEN_CHARACTERS.test(text) &&
    /[A-Z]/.test(text) &&
    /[a-z]/.test(text) &&
    /\d/.test(text)
  )
    return true;
  // Long unbroken letters-and-digits that are not a content hash (lower-case or upper-case tokens).
  return text.length >= 32 && ALPHANUMERIC.test(text) && /\d/.test(text) && /[A-Za-z]/.test(text);
}

/** True when the segment after `name` should be treated as a credential whatever its shape. */
export function namesACredential(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}
