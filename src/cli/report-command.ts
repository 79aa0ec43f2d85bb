import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProvenanceProxyError, UsageError } from '../errors.js';
import { type ExitName, exitStatus } from '../exit-codes.js';
import {
  CHAINS_RESULT_NAMES,
  chainsResults,
  digestDisagreements,
  type PushedImage,
} from '../tekton/chains-results.js';

export const REPORT_USAGE = `Usage: provenance-proxy report [--control-url URL] [--control-token-file F]
         [--results-dir DIR] [--finalize] [--allow-empty] [--timeout SECONDS]

The last step of a Tekton Task: reads what the running proxy saw pushed and writes Tekton Chains'
type-hinted results, so Chains signs what the proxy observed rather than what a build step claims:

  IMAGES            every pushed image, registry/repository@sha256:<hex>, one per line
  IMAGE_URL         registry/repository      } only when exactly one image was pushed;
  IMAGE_DIGEST      sha256:<hex>             } otherwise removed if a
  ARTIFACT_OUTPUTS  {"uri","digest","isBuildArtifact"} } build step left one behind

Each file is replaced atomically (a symlink or file a build step planted is replaced, never
followed). Declare only these results as type hints in the Task.

  --control-url URL         the proxy's control server (default http://127.0.0.1:9464,
                            env PROVENANCE_PROXY_CONTROL_URL)
  --control-token-file F    bearer token for the control server (env PROVENANCE_PROXY_CONTROL_TOKEN_FILE):
                            the read token (run --control-read-token-file) is enough without --finalize
  --results-dir DIR         where Tekton collects results (default /tekton/results)
  --finalize                POST /v1/finalize first (needs the control token): the build statement is made
                            and handed to the sinks before the results are written
  --allow-empty             exit 0 when nothing was pushed (default: exit 4)
  --timeout SECONDS         per request (default 30)
  -h, --help                this text

Exit codes (docs/errors.md): 0 written, 2 usage, 3 control server unavailable or refused, 4 nothing
pushed, 9 an output's digest was contradicted by the registry, 10 results not writable. On every
failure but 10 the four result files are removed, so nothing a build step planted survives.
`;

interface ReportOptions {
  readonly controlUrl: URL;
  readonly tokenFile: string | undefined;
  readonly resultsDir: string;
  readonly finalize: boolean;
  readonly allowEmpty: boolean;
  readonly timeoutMs: number;
}

class ReportUsageError extends UsageError {
  constructor(message: string) {
    super(message, 'ERR_REPORT_USAGE');
  }
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

const OPTIONS = {
  'control-url': { type: 'string' },
  'control-token-file': { type: 'string' },
  'results-dir': { type: 'string' },
  finalize: { type: 'boolean' },
  'allow-empty': { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

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
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true }));
  } catch (error) {
    throw new ReportUsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const rawUrl = values['control-url'] ?? env.PROVENANCE_PROXY_CONTROL_URL ?? 'http://127.0.0.1:9464';
  let controlUrl: URL;
  try {
    controlUrl = new URL(rawUrl);
  } catch {
    throw new ReportUsageError(`--control-url ${JSON.stringify(rawUrl)} is not a URL`);
  }
  if (controlUrl.protocol !== 'http:' && controlUrl.protocol !== 'https:') {
    throw new ReportUsageError('--control-url must be an http:// or https:// URL');
  }
  const seconds = values.timeout === undefined ? 30 : Number(values.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new ReportUsageError('--timeout must be a number of seconds from 0 to 3600');
  }
  const tokenFile = values['control-token-file'] ?? env.PROVENANCE_PROXY_CONTROL_TOKEN_FILE;
  const finalize = values.finalize ?? false;
  if (finalize && tokenFile === undefined) {
    throw new ReportUsageError('--finalize needs --control-token-file: finalizing is a guarded endpoint');
  }
  return {
    controlUrl,
    tokenFile,
    resultsDir: values['results-dir'] ?? '/tekton/results',
    finalize,
    allowEmpty: values['allow-empty'] ?? false,
    timeoutMs: seconds * 1000,
  };
}

async function readControlToken(path: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ReportFailure('unavailable', `cannot read the control token file ${path} (${code})`);
  }
  if (token === '') throw new ReportFailure('unavailable', `the control token file ${path} is empty`);
  return token;
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
