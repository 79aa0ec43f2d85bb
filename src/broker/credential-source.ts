import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { watchFiles } from '../config/file-watcher.js';
import {
  parseRegistryAuthFile,
  type RegistryCredential,
  type RegistryCredentials,
} from './registry-auth-file.js';

/**
 * The `--registry-auth` file, held in memory and re-read when it changes (a projected Secret is
 * updated by swapping a symlink: polled stat plus a content hash see it). A file that stops
 * parsing keeps the last good credentials and says so; the start-up read must succeed.
 */
export class CredentialSource {
  readonly #path: string;
  readonly #logger: Logger;
  #credentials: RegistryCredentials;
  #contentHash: string;
  #generation = 0;
  readonly #stop: () => void;

  constructor(path: string, logger: Logger, pollMs: number) {
    this.#path = path;
    this.#logger = logger;
    const text = readFileSync(path, 'utf8');
    this.#credentials = parseRegistryAuthFile(text);
    this.#contentHash = hashOf(text);
    this.#stop = watchFiles([path], pollMs, () => this.reload());
  }

  /** Bumped on every change: caches of tokens minted with older credentials are dropped. */
  get generation(): number {
    return this.#generation;
  }

  get registries(): readonly string[] {
    return [...this.#credentials.keys()];
  }

  for(authority: string): RegistryCredential | undefined {
    return this.#credentials.get(authority.toLowerCase());
  }

  /** Re-reads the file now; a no-op when its content did not change. */
  reload(): void {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (error) {
      this.#logger.error(
        { code: (error as NodeJS.ErrnoException).code },
        'registry auth file unreadable; keeping the last credentials',
      );
      return;
    }
    const hash = hashOf(text);
    if (hash === this.#contentHash) return;
    try {
      this.#credentials = parseRegistryAuthFile(text);
    } catch (error) {
      this.#logger.error(
        { reason: (error as Error).message },
        'registry auth file invalid; keeping the last credentials',
      );
      return;
    }
    this.#contentHash = hash;
    this.#generation++;
    this.#logger.info({ registries: this.registries }, 'registry credentials reloaded');
  }

  close(): void {
    this.#stop();
  }
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
