/**
 * A throwaway PostgreSQL cluster for tests, from Debian's postgresql package: initdb into a
 * temporary directory, a server on 127.0.0.1 and a free port (unix socket in the same directory),
 * password authentication, and everything removed at stop.
 *
 * PostgreSQL refuses to run as root, so when the tests run as root, initdb and postgres run as
 * the `postgres` user (the package creates it) and the directory is handed to that user.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chown, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from './temp-dir.js';

export const POSTGRES_BIN_DIR = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

export interface PostgresCluster {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly password: string;
  /** Fast shutdown, then the directory is removed. */
  stop(): Promise<void>;
}

/** Why the cluster cannot be started here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  for (const bin of ['initdb', 'postgres']) {
    if (!existsSync(join(POSTGRES_BIN_DIR, bin))) {
      return `PostgreSQL binaries not found in ${POSTGRES_BIN_DIR} (apt-get install postgresql, or set POSTGRES_BIN_DIR)`;
    }
  }
  if (process.getuid?.() === 0 && postgresUser() === undefined) {
    return 'running as root, but there is no "postgres" user to run the server as';
  }
  return undefined;
}

const READY = /database system is ready to accept connections/;
const START_TIMEOUT_MS = 60_000;

export async function startPostgres(): Promise<PostgresCluster> {
  const reason = postgresUnavailable();
  if (reason !== undefined) throw new Error(reason);
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  const base = (await makeTempDir('postgres')).path;
  const dataDir = join(base, 'data');
  const password = randomBytes(18).toString('base64url');
  const passwordFile = join(base, 'pwfile');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user !== undefined) {
    await chown(base, user.uid, user.gid);
    await chown(passwordFile, user.uid, user.gid);
  }
  const asUser = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const env = { ...process.env, LC_ALL: 'C', HOME: base };
  try {
    await run(
      join(POSTGRES_BIN_DIR, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        `--pwfile=${passwordFile}`,
        '-E',
        'UTF8',
        '--no-sync',
      ],
      { ...asUser, env, cwd: base },
    );
    const port = await freePort();
    const server = spawn(
      join(POSTGRES_BIN_DIR, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${base}`,
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...asUser, env, cwd: base, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await waitForReady(server);
    return {
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      password,
      stop: async () => {
        await stopServer(server);
        await removeTempDir(base);
      },
    };
  } catch (error) {
    await removeTempDir(base);
    throw error;
  }
}

function postgresUser(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (line === undefined) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(command: string, args: string[], options: Parameters<typeof spawn>[2]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
  });
}

/** Resolves when the server logs that it accepts connections; rejects if it exits first. */
function waitForReady(server: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      server.kill('SIGKILL');
      reject(new Error(`postgres did not become ready within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (READY.test(log)) {
        clearTimeout(timer);
        server.off('exit', onExit);
        // Keep reading the server's log so a full pipe never blocks it, without keeping it.
        for (const stream of [server.stderr, server.stdout]) {
          stream?.off('data', onData);
          stream?.on('data', () => undefined);
        }
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited with ${code} before it was ready:\n${log}`));
    };
    server.stderr?.on('data', onData);
    server.stdout?.on('data', onData);
    server.once('exit', onExit);
    server.once('error', reject);
  });
}

/** SIGINT is PostgreSQL's fast shutdown: sessions are ended, the server exits cleanly. */
function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.once('exit', () => resolve());
    server.kill('SIGINT');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
