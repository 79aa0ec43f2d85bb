import { randomBytes } from 'node:crypto';
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { CaptureCanary } from './capture-rules.js';

/** First bytes of a canary: `PPCANARY1 <rule-set hash> <nonce>\n`. */
const CANARY_MAGIC = 'PPCANARY1';
/** A canary line is short; more is not a canary. */
const MAX_CANARY_BYTES = 256;
/** Canary connections being read at once; more are closed unread (a build cannot pile them up). */
const MAX_OPEN_ARRIVALS = 16;

/** One check of the capture rules: the proxy's canary came back through them, or did not. */
export interface CaptureCheck {
  readonly at: number;
  readonly ok: boolean;
  readonly ruleSetHash: string;
  /** Why it failed: `timeout`, `connect_failed: CODE`, `proxy_uid_not_exempt`. */
  readonly reason?: string;
}

/** A connection to the canary destination that was not the proxy's own canary. */
export interface ForgedCanary {
  readonly at: number;
  readonly reason: 'wrong_hash' | 'unknown_nonce' | 'malformed';
}

export type CaptureEvent = ({ type: 'check' } & CaptureCheck) | ({ type: 'forged' } & ForgedCanary);

export interface CaptureVerifierOptions {
  readonly ruleSetHash: string;
  readonly canary: CaptureCanary;
  /** 0: only the check at start. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly onEvent: (event: CaptureEvent) => void;
  readonly logger: Logger;
}

/**
 * Proves, from inside the proxy, that the pod's capture rules are live. The proxy has no
 * NET_ADMIN and cannot read iptables; it connects to the canary destination instead, which
 * only the rule set with this hash redirects (its rule sits ahead of the proxy UID's
 * exemption), and waits for that connection to arrive on the transparent port with the
 * canary as its original destination and a fresh nonce only this process knows. At start
 * and every interval; a canary that does not come back is a failed check.
 */
export class CaptureVerifier {
  readonly #opts: CaptureVerifierOptions;
  /** Nonce of the check in flight → its resolver. */
  readonly #pending = new Map<string, () => void>();
  #timer: NodeJS.Timeout | null = null;
  #open = 0;
  #checking: Promise<CaptureCheck> | null = null;
  /** Source ports of connections that arrived for the exemption probe during this check. */
  #probeArrivals: number[] = [];

  constructor(opts: CaptureVerifierOptions) {
    this.#opts = opts;
  }

  /** Whether a redirected connection's original destination is the canary's (or the exemption probe's). */
  isCanary(destination: { address: string; port: number }): boolean {
    const { address, port } = this.#opts.canary;
    return (
      destination.address === address && (destination.port === port || destination.port === probePort(port))
    );
  }

  /** A connection that arrived redirected to the canary destination: the proxy's own, or forged. */
  accept(socket: Socket, destination: { port: number }): void {
    socket.on('error', () => socket.destroy());
    if (destination.port !== this.#opts.canary.port) {
      // Only the canary port is redirected for the proxy: its probe arriving means its UID is not
      // exempt. Told from a build's connection to the same port by the source port (REDIRECT keeps it).
      if (socket.remotePort !== undefined && this.#probeArrivals.length < MAX_OPEN_ARRIVALS)
        this.#probeArrivals.push(socket.remotePort);
      socket.destroy();
      return;
    }
    if (this.#open >= MAX_OPEN_ARRIVALS) {
      socket.destroy();
      return;
    }
    this.#open++;
    socket.once('close', () => this.#open--);
    socket.setTimeout(this.#opts.timeoutMs, () => this.#forged(socket, 'malformed'));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end < 0) {
        if (text.length > MAX_CANARY_BYTES) this.#forged(socket, 'malformed');
        return;
      }
      const [magic, hash, nonce, ...rest] = text.slice(0, end).split(' ');
      const resolve = nonce === undefined ? undefined : this.#pending.get(nonce);
      if (magic !== CANARY_MAGIC || rest.length > 0 || nonce === undefined) this.#forged(socket, 'malformed');
      else if (hash !== this.#opts.ruleSetHash) this.#forged(socket, 'wrong_hash');
      else if (resolve === undefined) this.#forged(socket, 'unknown_nonce');
      else {
        this.#pending.delete(nonce);
        resolve();
        socket.end('ok\n');
      }
    });
  }

  /** One check now (one at a time: a check asked for while one runs shares it). */
  check(): Promise<CaptureCheck> {
    this.#checking ??= this.#runCheck().finally(() => {
      this.#checking = null;
    });
    return this.#checking;
  }

  start(): void {
    if (this.#opts.intervalMs <= 0 || this.#timer !== null) return;
    this.#timer = setInterval(() => void this.check(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #runCheck(): Promise<CaptureCheck> {
    const nonce = randomBytes(16).toString('hex');
    const { canary, ruleSetHash, timeoutMs } = this.#opts;
    // The exemption probe: a port next to the canary's, which rules made for the proxy's UID
    // leave alone for it. Rules that exempt another UID redirect it (and the canary, through
    // the catch-all): the proxy's own upstream connections would loop into itself. Sent first;
    // a redirected connection arrives at once, sooner than the canary's round trip ends.
    this.#probeArrivals = [];
    const probe = net.connect({ host: canary.address, port: probePort(canary.port) });
    // Its port is read at connect: the arrival side closes it at once, and a closed socket has none.
    let probeLocalPort: number | undefined;
    probe.once('connect', () => {
      probeLocalPort = probe.localPort;
    });
    probe.on('error', () => probe.destroy());
    const canaryFailure = await new Promise<string | null>((resolve) => {
      let socket: Socket | undefined;
      const done = (reason: string | null) => {
        clearTimeout(timer);
        this.#pending.delete(nonce);
        socket?.destroy();
        resolve(reason);
      };
      // Success is the arrival of this nonce, never merely a connection: something else may
      // answer at the canary address when the rules are gone.
      this.#pending.set(nonce, () => done(null));
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      socket = net.connect({ host: canary.address, port: canary.port });
      socket.on('connect', () => socket?.write(`${CANARY_MAGIC} ${ruleSetHash} ${nonce}\n`));
      socket.on('error', (error: NodeJS.ErrnoException) => done(`connect_failed: ${error.code ?? 'error'}`));
    });
    const probeArrived = probeLocalPort !== undefined && this.#probeArrivals.includes(probeLocalPort);
    probe.destroy();
    const failure = canaryFailure ?? (probeArrived ? 'proxy_uid_not_exempt' : null);
    const check: CaptureCheck =
      failure === null
        ? { at: Date.now(), ok: true, ruleSetHash }
        : { at: Date.now(), ok: false, ruleSetHash, reason: failure };
    if (!check.ok)
      this.#opts.logger.error(
        { ruleSetHash, canary: `${canary.address}:${canary.port}`, reason: check.reason },
        'the capture canary did not come back through the capture rules: egress is no longer claimed complete',
      );
    this.#opts.onEvent({ type: 'check', ...check });
    return check;
  }

  #forged(socket: Socket, reason: ForgedCanary['reason']): void {
    if (socket.destroyed) return;
    socket.destroy();
    this.#opts.logger.warn(
      { reason },
      'a connection to the capture canary destination was not the proxy canary',
    );
    this.#opts.onEvent({ type: 'forged', at: Date.now(), reason });
  }
}

/** The exemption probe's port: next to the canary's, never redirected for the proxy's UID. */
function probePort(canaryPort: number): number {
  return canaryPort === 65_535 ? 1024 : canaryPort + 1;
}
