/**
 * Where each line of a journal starts, so a page can be read back from the file without keeping
 * any entry's data in memory: 8 bytes per line (a million lines cost 8 MiB), in one typed array that
 * doubles when full. Offsets are file positions, exact as doubles up to 2^53.
 */
export class OffsetIndex {
  private starts = new Float64Array(1024);
  private used = 0;

  get count(): number {
    return this.used;
  }

  push(start: number): void {
    if (this.used === this.starts.length) {
      const grown = new Float64Array(this.starts.length * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.starts[this.used] = start;
    this.used += 1;
  }

  /** Offset of the first byte of line `i` (0-based). */
  startOf(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.used) throw new RangeError(`no line ${i} in the index`);
    return this.starts[i]!;
  }
}
