/**
 * A small seeded PRNG (mulberry32): the same seed gives the same inputs on every machine,
 * so a failure the fuzzer reports can be replayed with FUZZ_SEED.
 */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let x = this.#state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** A fresh generator whose sequence depends only on this one's seed and `salt`. */
  fork(salt: number): Prng {
    return new Prng(Math.imul(this.#state ^ salt, 0x9e3779b1));
  }
}
