import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small real HTTP store for reports, idempotent per reportId like the real sinks:
 * `PUT /reports/<id>` answers 201 and stores a copy the first time, 200 (no new copy) afterwards.
 * Tests script faults for real: answer a status N times, answer a status until told otherwise,
 * hold requests until released, or stop listening altogether (connection refused).
 */
export class ReportStore {
  /** Stored copies per reportId: exactly-once delivery means 1 for each. */
  readonly copies = new Map<string, number>();
  /** Every PUT that reached the store, in arrival order (reportIds). */
  readonly arrivals: string[] = [];
  private server: Server;
  private port = 0;
  private scripted: Array<{ status: number; body: string }> = [];
  private outage: { status: number; body: string } | null = null;
  private holding = false;
  private held: Array<() => void> = [];
  private concurrent = 0;
  maxConcurrent = 0;
  private storedWaiters: Array<{ count: number; resolve: () => void }> = [];

  private constructor() {
    this.server = this.createServer();
  }

  static async start(): Promise<ReportStore> {
    const store = new ReportStore();
    await store.listen(0);
    return store;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next `times` requests get `status` with `body`. */
  answer(status: number, times: number, body = `scripted ${status}`): void {
    for (let i = 0; i < times; i += 1) this.scripted.push({ status, body });
  }

  /** Every request gets `status` until outage(null). */
  setOutage(status: number | null, body = `outage ${status}`): void {
    this.outage = status === null ? null : { status, body };
  }

  /** Holds requests (no answer) until release(); counts how many are held at once. */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  get heldCount(): number {
    return this.held.length;
  }

  get storedCount(): number {
    return this.copies.size;
  }

  /** Resolves once `count` distinct reports are stored. */
  waitForStored(count: number): Promise<void> {
    if (this.copies.size >= count) return Promise.resolve();
    return new Promise((resolve) => this.storedWaiters.push({ count, resolve }));
  }

  /** Stops listening and drops open connections: clients get real connection errors. */
  async stop(): Promise<void> {
    this.release();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    this.server = this.createServer();
    await this.listen(this.port);
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private createServer(): Server {
    return createServer((req, res) => {
      void this.handle(req, res);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/reports\/([^/]+)$/.exec(req.url ?? '');
    if (req.method !== 'PUT' || match === null) {
      res.writeHead(404).end('not found');
      return;
    }
    const reportId = decodeURIComponent(match[1]!);
    this.arrivals.push(reportId);
    this.concurrent += 1;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    try {
      if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
      const fault = this.scripted.shift() ?? this.outage;
      if (fault !== null) {
        res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(fault.body);
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reportId?: unknown };
      if (body.reportId !== reportId) {
        res.writeHead(400).end('reportId in body does not match the path');
        return;
      }
      const existing = this.copies.get(reportId);
      if (existing === undefined) this.copies.set(reportId, 1);
      res.writeHead(existing === undefined ? 201 : 200).end();
      this.notifyStored();
    } finally {
      this.concurrent -= 1;
    }
  }

  private notifyStored(): void {
    const ready = this.storedWaiters.filter((w) => this.copies.size >= w.count);
    this.storedWaiters = this.storedWaiters.filter((w) => this.copies.size < w.count);
    for (const w of ready) w.resolve();
  }
}
