import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

export interface DribbleOutcome {
  /** The server closed the connection before the last byte was sent. */
  closed: boolean;
  /** How many bytes were written before the close (or all of them). */
  bytesSent: number;
  /** Everything the server answered. */
  answer: string;
}

/**
 * A slowloris client: writes `bytes` one at a time, `gapMs` apart, and stops as soon as the
 * server closes the connection. The loop is bounded by the length of `bytes`; a server that
 * is still holding the connection after the last byte is reported (closed: false), and the
 * socket is destroyed.
 */
export async function dribble(socket: Duplex, bytes: Buffer, gapMs: number): Promise<DribbleOutcome> {
  const answer: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => answer.push(chunk));
  socket.on('error', () => {});
  let closed = false;
  const closing = once(socket, 'close').then(() => {
    closed = true;
  });
  let bytesSent = 0;
  for (const byte of bytes) {
    if (closed) break;
    socket.write(Buffer.of(byte));
    bytesSent++;
    await Promise.race([closing, delay(gapMs)]);
  }
  const outcome = { closed, bytesSent, answer: Buffer.concat(answer).toString('latin1') };
  if (!closed) socket.destroy();
  return outcome;
}
