import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import { mintCaPair } from '../tls/certificate-authority.js';

const HELP = `Usage: provenance-proxy ca [--create --out DIR [--days N]] [--control URL]

Without --create: prints the CA certificate of a running proxy (GET <control>/ca.pem;
--control defaults to http://127.0.0.1:9464, env PROVENANCE_PROXY_CONTROL_URL).

With --create: mints a CA pair for a Kubernetes Secret and writes DIR/tls.crt and
DIR/tls.key (mode 0600). Use it when several pods must share one CA; otherwise let
each pod mint its own in memory (the default of 'run').
  kubectl create secret tls provenance-proxy-ca --cert=DIR/tls.crt --key=DIR/tls.key

Options:
  --create       mint a new CA pair
  --out DIR      where to write tls.crt and tls.key (required with --create)
  --days N       validity in days (default 90)
  --control URL  control server of a running proxy
  --help         show this help
`;

export async function caCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      create: { type: 'boolean' },
      out: { type: 'string' },
      days: { type: 'string' },
      control: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.create) {
    if (!values.out) throw new InvalidOptionError('--out', 'required with --create');
    const days = values.days === undefined ? 90 : Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      throw new InvalidOptionError('--days', 'must be a whole number of days from 1 to 3650');
    }
    const { certPem, keyPem } = await mintCaPair({
      validityDays: days,
      commonName: 'provenance-proxy shared CA',
    });
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'tls.crt'), certPem, { mode: 0o644 });
    writeFileSync(join(values.out, 'tls.key'), keyPem, { mode: 0o600 });
    process.stdout.write(
      `wrote ${join(values.out, 'tls.crt')} and ${join(values.out, 'tls.key')} (valid ${days} days)\n`,
    );
    return 0;
  }
  const control = values.control ?? process.env.PROVENANCE_PROXY_CONTROL_URL ?? 'http://127.0.0.1:9464';
  let url: URL;
  try {
    url = new URL('/ca.pem', control);
  } catch {
    throw new InvalidOptionError('--control', 'must be an http:// URL of the control server');
  }
  const response = await fetch(url).catch((error: Error) => {
    throw new Error(`cannot reach the control server at ${control}: ${error.message}`);
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  process.stdout.write(await response.text());
  return 0;
}
