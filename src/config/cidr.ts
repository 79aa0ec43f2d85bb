import { isIP } from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

/** A CIDR as given to `--allow-destination`, parsed. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: IpFamily;
  /** As written, for the statement and the config digest. */
  readonly source: string;
}

/** Parses `address/prefix` (or a bare address: one host); null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = ipFamily(address);
  if (family === null) return null;
  const max = family === 'ipv4' ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
  return { address, prefix: Number(prefixText), family, source: text };
}

export function ipFamily(address: string): IpFamily | null {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
}
