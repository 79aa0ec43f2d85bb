import { InvalidOptionError } from '../errors.js';
import type { CommandOptions } from './option-table.js';

export interface ReportArguments {
  readonly controlUrl: string;
  readonly controlTokenFile: string | null;
  readonly resultsDir: string;
  readonly finalize: boolean;
  readonly allowEmpty: boolean;
  readonly timeoutMs: number;
}

export const REPORT_COMMAND: CommandOptions<ReportArguments> = {
  command: 'report',
  usage: [
    'report [--control-url URL] [--control-token-file F]',
    '         [--results-dir DIR] [--finalize] [--allow-empty] [--timeout SECONDS]',
  ],
  description: `The last step of a Tekton Task: reads what the running proxy saw pushed and writes Tekton Chains'
type-hinted results, so Chains signs what the proxy observed rather than what a build step claims:

  IMAGES            every pushed image, registry/repository@sha256:<hex>, one per line
  IMAGE_URL         registry/repository      } only when exactly one image was pushed;
  IMAGE_DIGEST      sha256:<hex>             } otherwise removed if a
  ARTIFACT_OUTPUTS  {"uri","digest","isBuildArtifact"} } build step left one behind

Each file is replaced atomically (a symlink or file a build step planted is replaced, never
followed). Declare only these results as type hints in the Task.`,
  rows: [
    {
      key: 'controlUrl',
      flag: 'control-url',
      kind: 'url',
      env: 'PROVENANCE_PROXY_CONTROL_URL',
      default: 'http://127.0.0.1:9464',
      help: "the proxy's control server",
    },
    {
      key: 'controlTokenFile',
      flag: 'control-token-file',
      kind: 'path',
      env: 'PROVENANCE_PROXY_CONTROL_TOKEN_FILE',
      default: null,
      help: 'bearer token for the control server: the read token (run --control-read-token-file) is enough without --finalize',
    },
    {
      key: 'resultsDir',
      flag: 'results-dir',
      kind: 'path',
      value: 'DIR',
      default: '/tekton/results',
      help: 'where Tekton collects results',
    },
    {
      key: 'finalize',
      flag: 'finalize',
      kind: 'switch',
      default: 'false',
      help: 'POST /v1/finalize first (needs the control token): the build statement is made and handed to the sinks before the results are written',
    },
    {
      key: 'allowEmpty',
      flag: 'allow-empty',
      kind: 'switch',
      default: 'false',
      help: 'exit 0 when nothing was pushed (otherwise exit 4)',
    },
    { key: 'timeoutMs', flag: 'timeout', kind: 'seconds', max: 3600, default: '30', help: 'per request' },
  ],
  epilogue: `Exit codes (docs/errors.md): 0 written, 2 usage, 3 control server unavailable or refused, 4 nothing
pushed, 9 an output's digest was contradicted by the registry, 10 results not writable. On every
failure but 10 the four result files are removed, so nothing a build step planted survives.`,
  check: (options) => {
    if (options.finalize && options.controlTokenFile === null) {
      throw new InvalidOptionError(
        '--control-token-file',
        '--finalize needs --control-token-file: finalizing is a guarded endpoint',
      );
    }
  },
};
