// A small tmpfs that a test mounts itself, to put a stateDir on a disk that fills up or turns
// read-only. Needs root (mount(8)); every mount is unmounted by unmount(), which tests call in after().
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why a test that needs a tmpfs cannot run here, or null when it can (in its name, per the rules). */
export const NO_TMPFS: string | null = process.getuid?.() === 0 ? null : 'needs root to mount a tmpfs';

export interface Tmpfs {
  dir: string;
  /** Fills the disk with a file until ENOSPC; returns its path. */
  fill(): string;
  /** Removes what fill() wrote. */
  free(): void;
  readOnly(): void;
  readWrite(): void;
  unmount(): void;
}

export function mountTmpfs(size = '1m'): Tmpfs {
  const root = mkdtempSync(join(tmpdir(), 'cutover-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', root]);
  const filler = join(root, 'filler');
  let mounted = true;
  return {
    dir: root,
    fill() {
      const fd = openSync(filler, 'a');
      const block = Buffer.alloc(4096, 1);
      try {
        // Bounded: a 1 MB disk takes 256 blocks; a bigger one is not what this is for.
        for (let i = 0; i < 1 << 16; i++) writeSync(fd, block);
        throw new Error(`${root} did not fill up`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      return filler;
    },
    free() {
      rmSync(filler, { force: true });
    },
    readOnly() {
      execFileSync('mount', ['-o', 'remount,ro', root]);
    },
    readWrite() {
      execFileSync('mount', ['-o', 'remount,rw', root]);
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      try {
        execFileSync('umount', [root]);
      } catch {
        // Still busy (a child that has not exited yet): detach it now, the kernel frees it after.
        execFileSync('umount', ['-l', root]);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
