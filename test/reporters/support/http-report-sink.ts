import type { ProvenanceSink, SignedReport } from '../../../src/reporters/sink.js';
import { SinkError } from '../../../src/reporters/sink.js';

/**
 * A real HTTP sink for outbox tests, classifying failures the way the production sinks do:
 * 400 and 413 (the payload refused) are final, 401/403 are auth failures (retried), everything
 * else is retried.
 */
export class HttpReportSink implements ProvenanceSink {
  readonly name: string;
  private readonly baseUrl: string;

  constructor(name: string, baseUrl: string) {
    this.name = name;
    this.baseUrl = baseUrl;
  }

  async deliver(report: SignedReport): Promise<void> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/reports/${encodeURIComponent(report.reportId)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(report),
        signal: AbortSignal.timeout(5000),
      });
    } catch (err) {
      throw new SinkError('ERR_SINK', `cannot reach the store: ${(err as Error).message}`, {
        retryable: true,
        reason: 'network',
        cause: err,
      });
    }
    const text = await response.text();
    if (response.ok) return;
    throw new SinkError('ERR_SINK', `store answered ${response.status}: ${text}`, {
      retryable: response.status !== 400 && response.status !== 413,
      auth: response.status === 401 || response.status === 403,
      reason: `http_${response.status}`,
    });
  }
}
