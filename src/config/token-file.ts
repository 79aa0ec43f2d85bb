import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { InvalidOptionError } from '../errors.js';

export interface TokenRule {
  /** Shortest token accepted (the control tokens are secrets this proxy guards: 16). */
  readonly minLength?: number;
}

/**
 * The one reading of a bearer-token file, for every `--…-token-file`: the file's text, trimmed
 * (a trailing newline is how Secrets and `echo` write it); empty, or with whitespace inside (it
 * would end up split or folded in the Authorization header), is an error naming the option.
 * The error never quotes the token.
 */
export async function readTokenFile(option: string, path: string, rule: TokenRule = {}): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw unreadable(option, path, error);
  }
  return checkToken(option, path, text, rule);
}

/** readTokenFile for start-up, where nothing runs yet that a synchronous read could hold up. */
export function readTokenFileSync(option: string, path: string, rule: TokenRule = {}): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw unreadable(option, path, error);
  }
  return checkToken(option, path, text, rule);
}

function checkToken(option: string, path: string, text: string, { minLength = 1 }: TokenRule): string {
  const token = text.trim();
  if (token === '') throw new InvalidOptionError(option, `token file ${path} is empty`);
  if (/\s/.test(token))
    throw new InvalidOptionError(option, `token file ${path} must hold one token, without spaces`);
  if (token.length < minLength)
    throw new InvalidOptionError(option, `the token in ${path} must be at least ${minLength} characters`);
  return token;
}

function unreadable(option: string, path: string, error: unknown): InvalidOptionError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new InvalidOptionError(option, `cannot read token file ${path} (${code})`);
}
