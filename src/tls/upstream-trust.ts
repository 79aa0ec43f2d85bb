import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { InvalidOptionError } from '../errors.js';

/** Where Debian/Ubuntu/Alpine (and RHEL) keep the system trust bundle. */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/**
 * The roots upstream TLS is verified against: Node's bundled Mozilla roots,
 * the system bundle (so a platform's own corporate roots work), and the
 * operator's extra bundles. There is deliberately no way to switch
 * verification off: a provenance proxy that can be told to trust anything
 * records nothing worth trusting.
 */
export function loadUpstreamTrust(extraBundlePaths: readonly string[]): string[] {
  const roots = new Set<string>(rootCertificates);
  for (const bundle of SYSTEM_BUNDLES) {
    if (existsSync(bundle)) {
      for (const pem of splitPemBundle(readFileSync(bundle, 'utf8'))) roots.add(pem);
      break;
    }
  }
  for (const path of extraBundlePaths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new InvalidOptionError('--upstream-ca', `cannot read ${path}: ${(error as Error).message}`);
    }
    const pems = splitPemBundle(text);
    if (pems.length === 0) {
      throw new InvalidOptionError('--upstream-ca', `${path} holds no PEM certificate`);
    }
    for (const pem of pems) {
      try {
        new X509Certificate(pem);
      } catch {
        throw new InvalidOptionError('--upstream-ca', `${path} holds a certificate that does not parse`);
      }
      roots.add(pem);
    }
  }
  return [...roots];
}

/** The system trust bundle as PEM text, or Node's bundled roots when the system has none. */
export function systemBundleText(): string {
  for (const bundle of SYSTEM_BUNDLES) if (existsSync(bundle)) return readFileSync(bundle, 'utf8');
  return rootCertificates.join('\n');
}

export function splitPemBundle(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
