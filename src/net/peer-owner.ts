import { isIPv4 } from 'node:net';
import koffi from 'koffi';

/** Linux constants (linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h). */
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const NLMSG_ERROR = 2;
const IPPROTO_TCP = 6;
const MSG_DONTWAIT = 0x40;
/** struct nlmsghdr + struct inet_diag_req_v2 (with its 48-byte inet_diag_sockid). */
const REQUEST_BYTES = 16 + 56;
/** Offset of idiag_uid in an answer: nlmsghdr (16) + family..retrans (4) + sockid (48) + expires, rqueue, wqueue (12). */
const UID_OFFSET = 80;

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
}

let libc: Libc | null = null;
let diagSocket = -1;
let sequence = 0;
const answer = Buffer.alloc(8192);

function bind(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
    sendto: lib.func(
      'long sendto(int fd, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t addrlen)',
    ) as Libc['sendto'],
    recv: lib.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)') as Libc['recv'],
  };
  return libc;
}

/**
 * The UID owning the TCP socket whose local end is `local` and remote end `remote`, in this
 * network namespace, asked of the kernel (sock_diag netlink: an exact lookup by the four-tuple,
 * no table scan, one round trip). null when no such socket is here (the peer is in another
 * namespace, e.g. a nested container) or the kernel cannot say (no inet_diag).
 *
 * For a connection netfilter REDIRECTed on this host, the client's socket still names the
 * original destination as its remote end: pass the accepted socket's peer as `local` and the
 * original destination as `remote`.
 */
export function tcpSocketOwner(local: Endpoint, remote: Endpoint): number | null {
  const family = familyOf(local.address);
  if (family === null || familyOf(remote.address) !== family) return null;
  const call = bind();
  if (diagSocket < 0) {
    diagSocket = call.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (diagSocket < 0) return null;
  }
  sequence = (sequence + 1) >>> 0;
  const request = Buffer.alloc(REQUEST_BYTES);
  request.writeUInt32LE(REQUEST_BYTES, 0);
  request.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  request.writeUInt16LE(NLM_F_REQUEST, 6);
  request.writeUInt32LE(sequence, 8);
  request[16] = family;
  request[17] = IPPROTO_TCP;
  request.writeUInt32LE(0xffffffff, 20); // every state
  request.writeUInt16BE(local.port, 24);
  request.writeUInt16BE(remote.port, 26);
  addressBytes(local.address, family).copy(request, 28);
  addressBytes(remote.address, family).copy(request, 44);
  request.writeUInt32LE(0xffffffff, 64); // INET_DIAG_NOCOOKIE
  request.writeUInt32LE(0xffffffff, 68);
  const kernel = Buffer.alloc(12);
  kernel.writeUInt16LE(AF_NETLINK, 0);
  if (call.sendto(diagSocket, request, REQUEST_BYTES, 0, kernel, kernel.length) !== REQUEST_BYTES)
    return null;
  // The kernel answers within sendto; anything older left in the queue is skipped by sequence.
  for (;;) {
    const length = call.recv(diagSocket, answer, answer.length, MSG_DONTWAIT);
    if (length < 16) return null;
    if (answer.readUInt32LE(8) !== sequence) continue;
    if (answer.readUInt16LE(4) === NLMSG_ERROR || length < UID_OFFSET + 4) return null;
    return answer.readUInt32LE(UID_OFFSET);
  }
}

function familyOf(address: string): number | null {
  const plain = address.replace(/^::ffff:(?=\d+\.)/, '');
  if (isIPv4(plain)) return AF_INET;
  return plain.includes(':') ? AF_INET6 : null;
}

/** 16 bytes, network order; IPv4 in the first four. */
function addressBytes(address: string, family: number): Buffer {
  const bytes = Buffer.alloc(16);
  if (family === AF_INET) {
    const octets = address.replace(/^::ffff:/, '').split('.');
    for (let i = 0; i < 4; i++) bytes[i] = Number(octets[i]);
    return bytes;
  }
  const [head = '', tail = ''] = address.split('::') as [string, string?];
  const groups = (text: string) => (text === '' ? [] : text.split(':'));
  const left = groups(head);
  const right = address.includes('::') ? groups(tail) : [];
  const all = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  for (let i = 0; i < 8; i++) bytes.writeUInt16BE(Number.parseInt(all[i] ?? '0', 16), i * 2);
  return bytes;
}
