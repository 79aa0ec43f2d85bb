import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { ERROR_CODES, type ErrorCode, exitNameOf, isErrorCode } from '../../src/error-codes.js';
import { isRetryable, ProvenanceProxyError } from '../../src/errors.js';
import { EXIT, type ExitName, exitStatusOf } from '../../src/exit-codes.js';
import { GrafeasApiError, HTTP_STATUS_OF } from '../../src/grafeas/status.js';
import { SinkError } from '../../src/reporters/sink.js';
import { PROJECT_ROOT } from '../support/tools.js';

const SRC = join(PROJECT_ROOT, 'src');
const CATALOGUE = join(SRC, 'error-codes.ts');
const DOC = readFileSync(join(PROJECT_ROOT, 'docs/errors.md'), 'utf8');

/** Node.js's own codes the source matches on (it never raises them): not ours to catalogue. */
const NODE_CODES = ['ERR_HTTP_REQUEST_TIMEOUT', 'ERR_TLS_CERT_ALTNAME_INVALID'];
const NODE_CODE_PREFIXES = ['ERR_TLS', 'ERR_SSL', 'ERR_PARSE_ARGS_'];
/** Codes built from a template (or a template type), each checked by the compiler against ErrorCode. */
const TEMPLATED = { 'grafeas/status.ts': ['ERR_GRAFEAS_'], 'reporters/sink.ts': ['ERR_SINK_'] };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const documentedCodes = new Map(
  [...DOC.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \| (.+?) \| (yes|no) \| (.+?) \| `(\w+)` \|$/gm)].map((m) => [
    m[1]!,
    { retryable: m[3] === 'yes', where: m[4]!, exit: m[5]! },
  ]),
);
const documentedStatuses = new Map(
  [...DOC.matchAll(/^\| (\d+) \| `(\w+)` \| (.+) \|$/gm)].map((m) => [m[2]!, Number(m[1])]),
);

t.test(
  'docs/errors.md lists every catalogued code, and only those, with its retryable and exit',
  async (t) => {
    const catalogued = Object.keys(ERROR_CODES);
    t.ok(catalogued.length > 50, 'the catalogue is the whole list');
    t.same([...documentedCodes.keys()].sort(), [...catalogued].sort(), 'same codes both ways');
    for (const code of catalogued as ErrorCode[]) {
      const doc = documentedCodes.get(code);
      if (doc === undefined) continue;
      t.equal(doc.retryable, ERROR_CODES[code].retryable, `${code}: retryable`);
      t.equal(doc.exit, exitNameOf(code), `${code}: exit`);
      t.ok(doc.where.trim().length > 0, `${code}: where a user meets it`);
    }
  },
);

t.test('docs/errors.md lists every exit status, and only those; statuses are distinct', async (t) => {
  const table = Object.entries(EXIT).map(([name, row]) => [name, row.status] as const);
  t.same(
    [...documentedStatuses.entries()].sort(([a], [b]) => a.localeCompare(b)),
    [...table].sort(([a], [b]) => a.localeCompare(b)),
  );
  const statuses = table.map(([, status]) => status);
  t.equal(new Set(statuses).size, statuses.length, 'no status means two things');
  t.ok(
    statuses.every((s) => Number.isInteger(s) && s >= 0 && s < 126),
    'statuses a shell does not reserve',
  );
});

t.test('no code literal in src/ outside the catalogue: every ERR_ string is a catalogued code', async (t) => {
  const strays: string[] = [];
  for (const file of sources(SRC)) {
    if (file === CATALOGUE) continue;
    const name = relative(SRC, file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(['"`])(ERR_[A-Z0-9_]*)(\$\{)?/g)) {
      const [, , code, templated] = m;
      if (templated !== undefined) {
        if (!(TEMPLATED[name as keyof typeof TEMPLATED] ?? []).includes(code!))
          strays.push(`${name}: templated code ${code}\${…}`);
        continue;
      }
      if (isErrorCode(code!) || NODE_CODES.includes(code!)) continue;
      if (NODE_CODE_PREFIXES.some((p) => code!.startsWith(p))) continue;
      strays.push(`${name}: ${code}`);
    }
  }
  t.same(strays, [], 'uncatalogued codes');
});

t.test('every error class in src/ extends the base error (none extends Error directly)', async (t) => {
  const direct: string[] = [];
  for (const file of sources(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(
      /class (\w+) extends (Error|TypeError|RangeError)\b/g,
    ))
      direct.push(`${relative(SRC, file)}: ${m[1]}`);
  }
  t.same(direct, ['errors.ts: ProvenanceProxyError']);
});

t.test('retryable is the code default unless the maker decides; cause is the standard one', async (t) => {
  const root = new Error('EIO');
  const made = new ProvenanceProxyError('ERR_GRAFEAS_UNAVAILABLE', 'down', { cause: root });
  t.equal(made.retryable, true);
  t.equal(made.cause, root);
  t.equal(new ProvenanceProxyError('ERR_GRAFEAS_NOT_FOUND', 'gone').retryable, false);
  t.equal(new ProvenanceProxyError('ERR_GRAFEAS_NOT_FOUND', 'gone', { retryable: true }).retryable, true);
  t.notOk(Object.hasOwn(new ProvenanceProxyError('ERR_CA', 'x'), 'cause'), 'no cause when none was given');

  const sink = new SinkError('ERR_SINK_GRAFEAS_HTTP', 'grafeas answered 400', {
    retryable: false,
    reason: 'http_400',
    cause: root,
  });
  t.type(sink, ProvenanceProxyError, 'SinkError extends the base');
  t.equal(sink.cause, root, 'the standard cause');
  t.equal(sink.reason, 'http_400');
  t.notOk('cause_' in sink, 'no field shadows cause');
  t.equal(isRetryable(sink), false);
  t.equal(isRetryable(new Error('a bug')), true, 'an untyped error is a surprise: retried');
});

t.test(
  'a Grafeas status a server made up gets ERR_GRAFEAS_UNKNOWN, not a code outside the catalogue',
  async (t) => {
    for (const status of Object.keys(HTTP_STATUS_OF))
      t.ok(isErrorCode(`ERR_GRAFEAS_${status}`), `ERR_GRAFEAS_${status} is catalogued`);
    const odd = new GrafeasApiError('TEAPOT', 'a server-made name', { httpStatus: 418 });
    t.equal(odd.code, 'ERR_GRAFEAS_UNKNOWN');
    t.equal(odd.status, 'TEAPOT', 'the name the server sent is kept');
    t.equal(new GrafeasApiError('NOT_FOUND', 'x').code, 'ERR_GRAFEAS_NOT_FOUND');
  },
);

t.test('an escaping error exits through the table: its code names the row', async (t) => {
  const cases: Array<[unknown, ExitName]> = [
    [new ProvenanceProxyError('ERR_INVALID_OPTION', 'bad'), 'usage'],
    [new ProvenanceProxyError('ERR_JOURNAL_CHAIN', 'broken'), 'journalBroken'],
    [new ProvenanceProxyError('ERR_STORE_DATABASE_OPEN', 'down'), 'unavailable'],
    [new ProvenanceProxyError('ERR_DATA_DIR_LOCKED', 'held'), 'failed'],
    [Object.assign(new TypeError('unknown option'), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }), 'usage'],
    [new Error('a bug'), 'internal'],
  ];
  for (const [error, name] of cases) t.equal(exitStatusOf(error), EXIT[name].status, name);
});
