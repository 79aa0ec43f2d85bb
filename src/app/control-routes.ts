import { type ControlServer, json } from '../control/control-server.js';
import type { Journal } from '../journal/journal.js';
import { parseJournalPageQuery } from '../journal/journal-page.js';
import type { BuildRecord } from '../record/build-record.js';
import { imagesView } from '../record/images-view.js';
import type { Signer } from '../signing/envelope.js';
import type { Publisher } from './publisher.js';

/** What the /v1 routes show and do. */
export interface ControlRouteSources {
  readonly record: BuildRecord;
  readonly journal: Journal;
  readonly signer: Signer;
  readonly publisher: Publisher;
  /** Reports the outbox still holds. */
  readonly reportsPending: () => number;
}

/**
 * The /v1 control routes of the build: the images view, the statement (signed on demand), the
 * journal's pages, the public key, and finalize. Reads are open to the read token (a report step's),
 * except a signed snapshot: signing on demand stays with the control token, like finalize.
 */
export function registerControlRoutes(control: ControlServer, s: ControlRouteSources): void {
  const read = { access: 'read' } as const;
  const isDsse = (url: URL) => url.searchParams.get('format') === 'dsse';
  control.route('GET', '/v1/images', (_req, res) => json(res, 200, imagesView(s.record)), read);
  control.route(
    'GET',
    '/v1/provenance',
    async (_req, res, url) => {
      const statement = s.publisher.statement();
      json(res, 200, isDsse(url) ? await s.publisher.sign(statement) : statement);
    },
    { access: (url) => (isDsse(url) ? 'control' : 'read') },
  );
  control.route(
    'GET',
    '/v1/observations',
    async (_req, res, url) => {
      let request: ReturnType<typeof parseJournalPageQuery>;
      try {
        request = parseJournalPageQuery(url.searchParams);
      } catch (error) {
        json(res, 400, { error: { code: 'ERR_JOURNAL_PAGE', message: (error as Error).message } });
        return;
      }
      json(res, 200, await s.journal.page(request));
    },
    read,
  );
  control.route(
    'GET',
    '/v1/public-key',
    (_req, res) =>
      json(res, 200, {
        keyid: s.signer.keyid,
        algorithm: s.signer.algorithm,
        publicKeyPem: s.signer.publicKeyPem,
        ephemeral: s.signer.ephemeral,
      }),
    read,
  );
  control.route('POST', '/v1/finalize', async (_req, res) => {
    const statement = await s.publisher.finalize();
    json(res, 200, {
      finalized: true,
      subjects: statement.subject.length,
      reportsPending: s.reportsPending(),
    });
  });
}
