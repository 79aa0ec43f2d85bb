import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { open, readFile } from 'node:fs/promises';
import { waitUntil } from './wait-until.js';

/**
 * The one child-process launcher of the tests and bench/: short commands (`runCommand`,
 * `runChecked`), commands watched while they run (`startCommand` + `waitForOutput`), and
 * long-running services logged to a file and awaited by a readiness probe (`startService`,
 * what the proxy, the store, the registries and the injector are started with). Every wait is
 * bounded, every failure carries the tail of the output, and `stopChild` ends them all.
 */

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Kill the command (SIGKILL) after this long; a hung client must not hang the suite.
   * null: no limit, for a server the caller ends with stopChild.
   */
  timeoutMs?: number | null;
  /** Bytes written to stdin, then stdin is closed. */
  input?: string | Buffer;
  /** How much of each stream is kept (default 256 KiB, the tail); Infinity where a test reads it all. */
  maxCapture?: number;
}

export interface CommandResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** A command exited with a non-zero status (or was killed) where success was required. */
export class CommandFailedError extends Error {
  readonly code = 'ERR_TEST_COMMAND_FAILED';
  readonly result: CommandResult;
  constructor(result: CommandResult) {
    const how = result.signal === null ? `exit ${result.code}` : `signal ${result.signal}`;
    super(`${result.command} failed (${how}):\n${tail(result.stderr || result.stdout, 3000)}`);
    this.result = result;
  }
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** Keeps memory bounded when a client is chatty (progress bars); the tail is what explains failures. */
const MAX_CAPTURE = 256 * 1024;

export interface RunningCommand {
  child: ChildProcess;
  /** Resolves when the process has exited, whatever the status. */
  done: Promise<CommandResult>;
  /** What it printed so far (the last `maxCapture` characters of each stream). */
  output(): { stdout: string; stderr: string };
  /**
   * Resolves with the match once `pattern` appears on `stream` (e.g. a port it announces);
   * rejects, with the output, if the command exits first.
   */
  waitForOutput(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpExecArray>;
}

/** Starts a command and returns at once; `done` settles when it exits. */
export function startCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): RunningCommand {
  const started = Date.now();
  const command = [file, ...args].join(' ');
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const printed = new EventEmitter();
  const maxCapture = options.maxCapture ?? MAX_CAPTURE;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout = keepTail(stdout + chunk, maxCapture);
    printed.emit('data');
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = keepTail(stderr + chunk, maxCapture);
    printed.emit('data');
  });
  child.stdin?.on('error', () => {
    // The command may exit without reading its input; that is its business, not an error here.
  });
  child.stdin?.end(options.input ?? '');
  const timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutMs;
  const timer = timeoutMs === null ? undefined : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CommandResult>((resolve) => {
    child.once('error', (error) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({
        command,
        code: -1,
        signal: null,
        stdout,
        stderr: `${stderr}${error.message}`,
        durationMs: 0,
      });
    });
    child.once('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ command, code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
  const output = () => ({ stdout, stderr });
  const waitForOutput = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout') =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stream === 'stdout' ? stdout : stderr);
        if (match === null) return;
        printed.off('data', check);
        resolve(match);
      };
      printed.on('data', check);
      check();
      void done.then((result) => {
        printed.off('data', check);
        const how = result.signal ?? result.code;
        reject(
          new Error(
            `${command} exited (${how}) before ${pattern} on ${stream}:\n${tail(`${result.stdout}${result.stderr}`, 3000)}`,
          ),
        );
      });
    });
  return { child, done, output, waitForOutput };
}

export interface ServiceOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here (a file survives the test for debugging; a pipe could fill). */
  logPath: string;
  /** Named in the failure message. */
  what: string;
  /** A real request to the service: true once it serves. Throwing counts as "not yet". */
  ready: () => Promise<boolean>;
  /** Bounds of the readiness poll (default 150 × 100 ms). */
  attempts?: number;
  intervalMs?: number;
}

/** A long-running service did not start, or exited before it was ready. */
export class ServiceStartError extends Error {
  readonly code = 'ERR_TEST_SERVICE_START';
}

/**
 * Starts a long-running process with its output appended to `logPath` and polls `ready` (bounded)
 * until it serves. If it exits first, or never gets ready, it is killed and the error carries
 * the log's tail. The caller ends it with `stopChild`.
 */
export async function startService(
  file: string,
  args: readonly string[],
  options: ServiceOptions,
): Promise<ChildProcess> {
  const child = await spawnLogged(file, args, options);
  try {
    const outcome = await waitUntil(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return 'exited';
        return (await options.ready()) ? 'ready' : undefined;
      },
      { what: options.what, attempts: options.attempts ?? 150, intervalMs: options.intervalMs ?? 100 },
    );
    if (outcome === 'exited')
      throw new ServiceStartError(
        `${options.what}: exited (${child.exitCode ?? child.signalCode}): ${await logTail(options.logPath)}`,
      );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

/** Spawns with stdout and stderr appended to `logPath`; for services with their own readiness rule. */
export async function spawnLogged(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logPath: string },
): Promise<ChildProcess> {
  const log = await open(options.logPath, 'a');
  try {
    return spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', log.fd, log.fd],
    });
  } finally {
    await log.close();
  }
}

/** The end of a service's log, for failure messages. */
export async function logTail(path: string, chars = 3000): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.slice(-chars);
}

/** Runs a command to completion; never throws, the caller decides what the status means. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return startCommand(file, args, options).done;
}

/** Runs a command and throws CommandFailedError unless it exits 0. */
export async function runChecked(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const result = await runCommand(file, args, options);
  if (result.code !== 0) throw new CommandFailedError(result);
  return result;
}

function keepTail(text: string, max: number): string {
  return text.length > max ? text.slice(text.length - max) : text;
}

function tail(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max)}` : text;
}

/** SIGTERM, then SIGKILL if it has not exited within a bounded time. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
