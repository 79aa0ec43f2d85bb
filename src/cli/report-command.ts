import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatHelp, parseOptions } from '../config/option-table.js';
import { REPORT_COMMAND } from '../config/report-table.js';
import { readTokenFile } from '../config/token-file.js';
import { ProvenanceProxyError } from '../errors.js';
import { type ExitName, exitStatus } from '../exit-codes.js';
import {
  CHAINS_RESULT_NAMES,
  chainsResults,
  digestDisagreements,
  type PushedImage,
} from '../tekton/chains-results.js';

export const REPORT_USAGE = formatHelp(REPORT_COMMAND);

interface ReportOptions {
  readonly controlUrl: URL;
  readonly tokenFile: string | undefined;
  readonly resultsDir: string;
  readonly finalize: boolean;
  readonly allowEmpty: boolean;
  readonly timeoutMs: number;
}

/** Ends a run with a row of the exit table; the message goes to stderr. */
class ReportFailure extends ProvenanceProxyError {
  constructor(
    readonly exit: ExitName,
    message: string,
  ) {
    super('ERR_REPORT', message);
  }
}

export async function reportCommand(argv: string[]): Promise<number> {
  let options: ReportOptions | 'help';
  try {
    options = parseReportArgs(argv, process.env);
  } catch (error) {
    process.stderr.write(`report: ${(error as Error).message}\n\n${REPORT_USAGE}`);
    return exitStatus('usage');
  }
  if (options === 'help') {
    process.stdout.write(REPORT_USAGE);
    return 0;
  }
  try {
    const token = options.tokenFile === undefined ? undefined : await readControlToken(options.tokenFile);
    if (options.finalize) await controlRequest(options, token, 'POST', '/v1/finalize');
    const images = parseImages(await controlRequest(options, token, 'GET', '/v1/images'));
    const disagreements = digestDisagreements(images);
    if (disagreements.length > 0) {
      throw new ReportFailure(
        'digestDisagreement',
        `the registry contradicted the digest the proxy computed for ${disagreements
          .map((d) => `${d.reference} (registry: ${d.registryDigest ?? 'none'})`)
          .join(', ')}; no results written`,
      );
    }
    const results = chainsResults(images);
    if (results.images.length === 0 && !options.allowEmpty) {
      throw new ReportFailure('notFound', 'the proxy saw no image pushed; no results written');
    }
    await writeResults(options.resultsDir, results.files);
    process.stdout.write(
      results.images.length === 0
        ? 'report: no image pushed\n'
        : `report: ${results.images.length} image(s)\n${results.images.map((r) => `  ${r}\n`).join('')}`,
    );
    return exitStatus('ok');
  } catch (error) {
    if (!(error instanceof ReportFailure)) throw error;
    // A failed step must not leave behind type hints a build step planted: Chains may still
    // read the results of a TaskRun that failed.
    if (error.exit !== 'outputUnwritable') {
      await writeResults(options.resultsDir, {}).catch(() => undefined);
    }
    process.stderr.write(`report: FAILED: ${error.message}\n`);
    return exitStatus(error.exit);
  }
}

function parseReportArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ReportOptions | 'help' {
  const parsed = parseOptions(REPORT_COMMAND, argv, env);
  if (parsed === 'help') return 'help';
  const { controlUrl, controlTokenFile, ...options } = parsed.values;
  return { ...options, controlUrl: new URL(controlUrl), tokenFile: controlTokenFile ?? undefined };
}

/** The shared token-file rule; a token that cannot be read fails like an unreachable server (exit 3). */
async function readControlToken(path: string): Promise<string> {
  try {
    return await readTokenFile('--control-token-file', path);
  } catch (error) {
    throw new ReportFailure('unavailable', (error as Error).message);
  }
}

/** One request to the control server; anything but a 200 with JSON is a failure (exit 3). */
async function controlRequest(
  options: ReportOptions,
  token: string | undefined,
  method: 'GET' | 'POST',
  path: string,
): Promise<unknown> {
  const url = new URL(path, options.controlUrl);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    throw new ReportFailure(
      'unavailable',
      `cannot reach the control server at ${url.origin}: ${(error as Error).message}`,
    );
  }
  const text = await response.text().catch(() => '');
  if (response.status !== 200) {
    // The body is the proxy's own error JSON; it never echoes the token.
    throw new ReportFailure(
      'unavailable',
      `${method} ${path} answered ${response.status}${token === undefined && (response.status === 401 || response.status === 403) ? ' (give --control-token-file)' : ''}: ${text.slice(0, 300)}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ReportFailure('unavailable', `${method} ${path} did not answer JSON`);
  }
}

function parseImages(body: unknown): PushedImage[] {
  const images = (body as { images?: unknown } | null)?.images;
  if (!Array.isArray(images)) {
    throw new ReportFailure('unavailable', 'GET /v1/images did not answer {"images": [...]}');
  }
  for (const image of images as Partial<PushedImage>[]) {
    if (
      typeof image?.registry !== 'string' ||
      typeof image.repository !== 'string' ||
      typeof image.digest !== 'string'
    ) {
      throw new ReportFailure(
        'unavailable',
        'GET /v1/images answered an image without registry, repository or digest',
      );
    }
  }
  return images as PushedImage[];
}

/**
 * Writes each result through a fresh temporary file and a rename, which replaces whatever a
 * build step left at the name (a forged file, a symlink) without following it; results this
 * run does not produce are removed, so a forged IMAGE_URL cannot survive beside a true IMAGES.
 */
async function writeResults(dir: string, files: Partial<Record<string, string>>): Promise<void> {
  try {
    for (const name of CHAINS_RESULT_NAMES) {
      const target = join(dir, name);
      const content = files[name];
      if (content === undefined) {
        await rm(target, { force: true });
        continue;
      }
      const temporary = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      await writeFile(temporary, content, { flag: 'wx', mode: 0o644 });
      await rename(temporary, target);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ReportFailure(
      'outputUnwritable',
      `cannot write results in ${dir} (${code}): ${(error as Error).message}`,
    );
  }
}
