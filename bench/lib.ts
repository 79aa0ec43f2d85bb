/**
 * Measurement helpers of bench/: CPU, RSS and statistics. Processes are started with the tests'
 * one launcher (test/support/run-command.ts, test/support/proxy.ts), not here.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** User+system CPU seconds of a process, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / clockTicks();
}

let ticksPerSecond = 0;
function clockTicks(): number {
  if (ticksPerSecond === 0)
    ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return ticksPerSecond;
}

/** Resident set size now and its peak (VmHWM), in MiB. */
export function rssMiB(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { now: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Samples RSS while `work` runs; returns the highest value seen. */
export async function peakRssDuring<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; peakMiB: number }> {
  let peak = rssMiB(pid).now;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid).now);
  }, 50);
  try {
    const result = await work();
    peak = Math.max(peak, rssMiB(pid).now);
    return { result, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 2) => n.toFixed(digits);
