import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command (SIGKILL) after this long; a hung client must not hang the suite. */
  timeoutMs?: number;
  /** Bytes written to stdin, then stdin is closed. */
  input?: string | Buffer;
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
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout = keepTail(stdout + chunk);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = keepTail(stderr + chunk);
  });
  child.stdin?.on('error', () => {
    // The command may exit without reading its input; that is its business, not an error here.
  });
  child.stdin?.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CommandResult>((resolve) => {
    child.once('error', (error) => {
      clearTimeout(timer);
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
      clearTimeout(timer);
      resolve({ command, code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
  return { child, done };
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

function keepTail(text: string): string {
  return text.length > MAX_CAPTURE ? text.slice(text.length - MAX_CAPTURE) : text;
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
