/**
 * The benchmark's upstream, in its own process so its CPU is not charged to
 * anyone: an HTTPS server that drains uploads, serves small responses, and
 * answers on every 127.0.0.x it has a certificate for.
 */
import https from 'node:https';

const [key, cert, port] = [
  process.env.BENCH_KEY!,
  process.env.BENCH_CERT!,
  Number(process.env.BENCH_PORT ?? 0),
];
const small = Buffer.alloc(512, 97);
const server = https.createServer({ key, cert, keepAliveTimeout: 60_000 }, (req, res) => {
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
  });
  req.on('end', () => {
    if (req.url === '/small' || req.url === '/small-close') {
      // /small-close ends the connection after answering, so every request opens a fresh one.
      const close = req.url === '/small-close' ? { connection: 'close' } : {};
      res.writeHead(200, { 'content-length': small.length, ...close });
      res.end(small);
    } else {
      res.end(`${size}\n`);
    }
  });
});
server.listen(port, '0.0.0.0', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
