import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { readTokenFileSync } from '../config/token-file.js';
import { InvalidOptionError } from '../errors.js';

/** Where a generated token is written, in the data directory (never shared with build containers). */
export const GENERATED_TOKEN_FILE = 'control-token';

export interface ControlToken {
  readonly token: string;
  /** The file holding it: `--control-token-file`, or the generated one. */
  readonly path: string;
  /** true: minted at this start, written to `<data-dir>/control-token` (0600). */
  readonly generated: boolean;
}

/**
 * The control token: read from `--control-token-file`, or, when none is given, minted at start
 * (32 random bytes) and written to `<data-dir>/control-token`, mode 0600, replacing the previous
 * start's. /v1 is never open: who may read the data directory may read the record, nobody else.
 */
export function loadOrCreateControlToken(tokenFile: string | null, dataDir: string): ControlToken {
  if (tokenFile !== null)
    return { token: readTokenFile(tokenFile, '--control-token-file'), path: tokenFile, generated: false };
  const token = randomBytes(32).toString('base64url');
  const path = join(dataDir, GENERATED_TOKEN_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  // O_EXCL with 0600: the file is never, even briefly, readable by others or someone else's.
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  return { token, path, generated: true };
}

/**
 * The read token (`--control-read-token-file`), or null: it opens only the read-only /v1 views,
 * so a report step may hold it where the control token must stay in the sidecar. Never generated:
 * whoever needs it is outside the pod's data directory and gets it from a Secret. It must differ
 * from the control token, or handing it out would hand out finalize and signing too.
 */
export function loadControlReadToken(tokenFile: string | null, controlToken: string): string | null {
  if (tokenFile === null) return null;
  const token = readTokenFile(tokenFile, '--control-read-token-file');
  if (token === controlToken)
    throw new InvalidOptionError(
      '--control-read-token-file',
      'the read token must differ from the control token',
    );
  return token;
}

/** Control tokens guard finalize and signing: the shared token-file rule, and at least 16 characters. */
function readTokenFile(path: string, flag: string): string {
  return readTokenFileSync(flag, path, { minLength: 16 });
}
