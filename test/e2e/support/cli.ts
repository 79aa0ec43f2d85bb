import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PROXY_CLI_ENV } from '../../support/proxy.js';
import { type CommandResult, runCommand } from '../../support/run-command.js';
import { PROJECT_ROOT } from '../../support/tools.js';

/** The built CLI the end-to-end tests drive as real processes (same override as the interop harness). */
export function cliPath(): string {
  return resolve(process.env[PROXY_CLI_ENV] ?? join(PROJECT_ROOT, 'dist/cli/main.js'));
}

/** The CLI has not been built: the e2e suite runs the product as users do, from dist/. */
export class CliMissingError extends Error {
  readonly code = 'ERR_TEST_CLI_MISSING';
}

export async function assertCliBuilt(): Promise<void> {
  const cli = cliPath();
  await access(cli).catch(() => {
    throw new CliMissingError(`${cli} does not exist: run \`npm run build\` first (or set ${PROXY_CLI_ENV})`);
  });
}

/** `provenance-proxy verify …` as a child process; never throws, the exit code is the outcome. */
export function runVerify(args: readonly string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [cliPath(), 'verify', ...args], { timeoutMs: 30_000 });
}
