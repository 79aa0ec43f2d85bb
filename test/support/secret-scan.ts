import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Every file below `dir` (journal, outbox, state…), recursively; none when it does not exist. */
export async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/** The secrets among `secrets` that appear in `text` (a token's signature segment alone counts). */
export function leakedSecrets(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => secret !== '' && text.includes(secret));
}

/** A JWT and its signature segment: either one in a file is a leak. */
export function tokenForms(tokens: readonly string[]): string[] {
  return [...tokens, ...tokens.map((jwt) => jwt.split('.')[2] ?? jwt)];
}

/** Reads each file and returns `file: secret-count` for those holding any secret. */
export async function filesWithSecrets(
  files: readonly string[],
  secrets: readonly string[],
): Promise<string[]> {
  const found: string[] = [];
  for (const file of files) {
    const leaked = leakedSecrets(await readFile(file, 'latin1'), secrets);
    if (leaked.length > 0) found.push(`${file}: ${leaked.length} secret(s)`);
  }
  return found;
}
