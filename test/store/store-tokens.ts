import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreCredentials, type StoreRole } from '../../src/store/store-credentials.js';

export interface TestToken {
  readonly name: string;
  readonly role: StoreRole;
  readonly projects: readonly string[];
  readonly token: string;
}

/** Writes a `--tokens-file` (mode 0600) in `dir` and returns its path. */
export async function writeTokensFile(
  dir: string,
  tokens: readonly TestToken[],
  name = 'tokens.json',
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify({ tokens }), { mode: 0o600 });
  return path;
}

/** Credentials for an in-process store, loaded from a tokens file as the CLI does. */
export async function storeCredentials(dir: string, tokens: readonly TestToken[]): Promise<StoreCredentials> {
  return StoreCredentials.load(await writeTokensFile(dir, tokens));
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
