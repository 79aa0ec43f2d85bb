/** A regular file to put into a tar layer. */
export interface TarFile {
  /** Path inside the archive, relative, e.g. `etc/interop/hello.txt`. */
  path: string;
  content: Buffer | string;
  mode?: number;
}

const BLOCK = 512;

/**
 * A POSIX ustar archive of regular files with fixed metadata (mtime 0, uid/gid 0, no user
 * names), so the same files always give the same bytes — and the same layer digest.
 * Parent directories are not emitted; layer consumers create them as needed.
 */
export function tarArchive(files: readonly TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const content = typeof file.content === 'string' ? Buffer.from(file.content) : file.content;
    parts.push(header(file.path, content.length, file.mode ?? 0o644));
    parts.push(content);
    const padding = (BLOCK - (content.length % BLOCK)) % BLOCK;
    if (padding > 0) parts.push(Buffer.alloc(padding));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function header(path: string, size: number, mode: number): Buffer {
  const name = Buffer.from(path);
  if (name.length > 100) throw new RangeError(`tar path longer than 100 bytes: ${path}`);
  const block = Buffer.alloc(BLOCK);
  name.copy(block, 0);
  octal(block, 100, 8, mode);
  octal(block, 108, 8, 0); // uid
  octal(block, 116, 8, 0); // gid
  octal(block, 124, 12, size);
  octal(block, 136, 12, 0); // mtime
  block.fill(' ', 148, 156); // checksum is computed with this field as spaces
  block.write('0', 156); // regular file
  block.write('ustar\u000000', 257, 'binary');
  let sum = 0;
  for (const byte of block) sum += byte;
  octal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** Zero-padded octal, NUL-terminated, filling `length` bytes. */
function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'binary');
}
