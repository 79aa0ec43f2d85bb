// Issue 8: the dead-letter file loses nothing: a torn last line (a crash mid-write) does not swallow
// the next letter, a letter parked again after a resend is parked again, and the file is private.
import { appendFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { outboxCommand } from '../../src/cli/outbox-command.js';
import { EXIT } from '../../src/exit-codes.js';
import {
  appendDeadLetterLine,
  DEAD_LETTER_FILE,
  type DeadLetterLine,
  deadLetterId,
  readDeadLetters,
} from '../../src/reporters/dead-letter.js';
import { tempDir } from '../support/temp-dir.js';
import { sampleReport } from './support/sample-report.js';

function letter(reportId: string, at: string): DeadLetterLine {
  return {
    type: 'dead-letter',
    id: deadLetterId('grafeas', reportId),
    at,
    sink: 'grafeas',
    reportId,
    kind: 'image',
    attempts: 1,
    code: 'ERR_SINK_GRAFEAS_HTTP',
    cause: 'http_400',
    message: 'grafeas answered 400 INVALID_ARGUMENT: no',
    report: sampleReport(reportId),
  };
}

t.test('a torn last line does not swallow the next letter; states fold in order', async (t) => {
  const dir = await tempDir(t, 'dead-letter');
  await appendDeadLetterLine(dir, letter('r-1', '2026-01-01T00:00:00.000Z'));
  t.equal((await stat(join(dir, DEAD_LETTER_FILE))).mode & 0o777, 0o600, 'private to the proxy');
  await appendFile(join(dir, DEAD_LETTER_FILE), '{"type":"dead-letter","id":"dl-torn'); // a crash mid-write
  await appendDeadLetterLine(dir, letter('r-2', '2026-01-01T00:00:01.000Z'));
  await appendDeadLetterLine(dir, {
    type: 'resent',
    id: deadLetterId('grafeas', 'r-1'),
    at: '2026-01-02T00:00:00.000Z',
    sink: 'grafeas',
  });
  await appendDeadLetterLine(dir, letter('r-1', '2026-01-03T00:00:00.000Z'));
  const { letters, unreadable } = await readDeadLetters(dir);
  t.equal(unreadable, 1, 'the torn line is counted, not fatal');
  t.same(
    letters.map((l) => [l.reportId, l.at, l.resentAt]),
    [
      ['r-2', '2026-01-01T00:00:01.000Z', null],
      ['r-1', '2026-01-03T00:00:00.000Z', null],
    ],
    'r-2 survived the torn line; r-1, parked again after its resend, is parked',
  );
  t.equal(
    (await readFile(join(dir, DEAD_LETTER_FILE), 'utf8')).split('\n').filter(Boolean).length,
    5,
    'nothing rewritten',
  );

  const sink = new PassThrough();
  let out = '';
  sink.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  t.equal(
    await outboxCommand(['list', '--data-dir', dir], sink),
    EXIT.incomplete.status,
    'unreadable lines: exit incomplete',
  );
  t.match(out, /2 dead letters, 2 parked, 1 unreadable lines/);
  t.equal(await outboxCommand(['list'], sink), EXIT.usage.status, 'no --data-dir: usage');
  t.equal(await outboxCommand(['frobnicate'], sink), EXIT.usage.status);
});
