import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

export interface LogRecord {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A real pino logger whose records land in an array, so tests can assert what was logged. */
export function captureLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') records.push(JSON.parse(line) as LogRecord);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), records };
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;
