import { isIPv6 } from 'node:net';
import koffi from 'koffi';

/** Linux constants (linux/in.h, linux/in6.h, netfilter_ipv4.h, netfilter_ipv6/ip6_tables.h). */
const SOL_IP = 0;
const SOL_IPV6 = 41;
/** SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST share the number 80. */
const SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;
/** sizeof(struct sockaddr_in6); a sockaddr_in (16 bytes) fits too. */
const SOCKADDR_BYTES = 28;

export interface OriginalDestination {
  /** IP literal without brackets. */
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;

let getsockopt: GetSockOpt | null = null;

/** Bound on first use: a proxy without `--transparent-listen` never loads libc through FFI. */
function bind(): GetSockOpt {
  if (getsockopt) return getsockopt;
  const libc = koffi.load('libc.so.6');
  getsockopt = libc.func(
    'int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *length)',
  ) as GetSockOpt;
  return getsockopt;
}

/**
 * Where a REDIRECTed connection was going before netfilter sent it to us: the conntrack
 * entry's original destination, read with getsockopt(SO_ORIGINAL_DST) on the accepted
 * descriptor. Node has no API for it. null when the socket has no such entry (it was
 * not redirected: someone connected to the transparent port directly) or has no fd.
 */
export function originalDestination(socket: {
  _handle?: { fd?: number } | null;
  localAddress?: string;
}): OriginalDestination | null {
  const fd = socket._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  const call = bind();
  const v6 = isIPv6(socket.localAddress ?? '') && !(socket.localAddress ?? '').startsWith('::ffff:');
  const value = Buffer.alloc(SOCKADDR_BYTES);
  const length = [SOCKADDR_BYTES];
  if (call(fd, v6 ? SOL_IPV6 : SOL_IP, SO_ORIGINAL_DST, value, length) !== 0) return null;
  return decodeSockaddr(value.subarray(0, length[0]));
}

/** struct sockaddr_in / sockaddr_in6 → address and port (port in network order). */
export function decodeSockaddr(raw: Buffer): OriginalDestination | null {
  if (raw.length < 8) return null;
  const family = raw.readUInt16LE(0);
  const port = raw.readUInt16BE(2);
  if (family === AF_INET && raw.length >= 8) {
    return { address: `${raw[4]}.${raw[5]}.${raw[6]}.${raw[7]}`, port, family: 4 };
  }
  if (family === AF_INET6 && raw.length >= 24) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(raw.readUInt16BE(8 + i * 2).toString(16));
    return { address: compressIPv6(groups), port, family: 6 };
  }
  return null;
}

function compressIPv6(groups: string[]): string {
  // Longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}
