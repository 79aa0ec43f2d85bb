import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CA_COMMAND } from '../config/ca-table.js';
import { formatHelp, parseOptions } from '../config/option-table.js';
import { ProvenanceProxyError } from '../errors.js';
import { mintCaPair } from '../tls/certificate-authority.js';

export async function caCommand(argv: string[]): Promise<number> {
  const parsed = parseOptions(CA_COMMAND, argv, process.env);
  if (parsed === 'help') {
    process.stdout.write(formatHelp(CA_COMMAND));
    return 0;
  }
  const values = parsed.values;
  if (values.create && values.out !== null) {
    const { days } = values;
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
  const control = values.control;
  const url = new URL('/ca.pem', control);
  // Typed, so the exit table says "unavailable" (3), as `report` does, not "internal" (1).
  const response = await fetch(url).catch((error: Error) => {
    throw new ProvenanceProxyError(
      'ERR_CONTROL_UNAVAILABLE',
      `cannot reach the control server at ${control}: ${error.message}`,
      { cause: error },
    );
  });
  if (!response.ok)
    throw new ProvenanceProxyError('ERR_CONTROL_UNAVAILABLE', `${url} answered ${response.status}`);
  process.stdout.write(await response.text());
  return 0;
}
