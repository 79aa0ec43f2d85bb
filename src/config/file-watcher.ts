import { type StatWatcher, unwatchFile, watchFile } from 'node:fs';

/**
 * Calls `onChange` when any of `paths` changes, by polling stat. Polling rather than inotify:
 * a mounted ConfigMap or Secret is updated by swapping a symlink, which inotify on the file
 * misses and stat (which follows it) sees.
 */
export function watchFiles(paths: string[], intervalMs: number, onChange: () => void): () => void {
  const listener = (current: { mtimeMs: number; ino: number; size: number }, previous: typeof current) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.ino !== previous.ino ||
      current.size !== previous.size
    ) {
      onChange();
    }
  };
  const watchers: StatWatcher[] = paths.map((p) =>
    watchFile(p, { interval: intervalMs, persistent: false }, listener),
  );
  return () => {
    for (const p of paths) unwatchFile(p, listener);
    watchers.length = 0;
  };
}
