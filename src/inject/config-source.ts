import { readFileSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import { type InjectorConfig, parseInjectorConfig } from './injector-config.js';
import { InjectorConfigError } from './injector-errors.js';

/**
 * The injector's current configuration. A reload that fails (unreadable, not JSON, a rule
 * broken) keeps the last good one and logs why: a typo in a ConfigMap must not turn
 * injection off or break every pod creation of the cluster.
 */
export class ConfigSource {
  #current: InjectorConfig;
  #generation = 1;
  readonly #path: string;
  readonly #log: Logger;

  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
    this.#current = loadConfig(path); // at start-up a bad file is fatal: there is no last good one
  }

  get current(): InjectorConfig {
    return this.#current;
  }

  /** Counts successful loads; the first is 1. */
  get generation(): number {
    return this.#generation;
  }

  reload(): void {
    try {
      const next = loadConfig(this.#path);
      if (JSON.stringify(next) === JSON.stringify(this.#current)) return;
      this.#current = next;
      this.#generation += 1;
      this.#log.info(
        {
          event: 'config_reloaded',
          path: this.#path,
          generation: this.#generation,
          image: next.image,
          mode: next.mode,
        },
        'injector config reloaded',
      );
    } catch (error) {
      this.#log.error(
        {
          event: 'config_rejected',
          path: this.#path,
          code: (error as InjectorConfigError).code,
          reason: (error as Error).message,
        },
        'injector config reload rejected; keeping the last good config',
      );
    }
  }
}

function loadConfig(path: string): InjectorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InjectorConfigError('(file)', `cannot read ${path}: ${(error as Error).message}`);
  }
  return parseInjectorConfig(text);
}
