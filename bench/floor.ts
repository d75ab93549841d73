// The floor target: Node 24 piping bytes (bench/apps/floor-pipe.ts), the same runtime as cutover
// without any HTTP work, so `×floor` says how much of cutover's cost is its own.
import path from 'node:path';
import { repoRoot } from './cutover.ts';
import { startProcess, waitForPort } from './proc.ts';
import type { Target, Upstream } from './target.ts';

export async function startFloor(dir: string, port: number, upstream: Upstream): Promise<Target> {
  const child = startProcess(
    'floor',
    process.execPath,
    [path.join(repoRoot, 'bench/apps/floor-pipe.ts'), String(port), String(upstream.blue)],
    {
      logFile: path.join(dir, 'floor.log'),
    },
  );
  await waitForPort(child, port);
  return { name: 'floor', kind: 'floor', workers: 1, url: `http://127.0.0.1:${port}/`, pid: child.pid, close: () => child.stop() };
}
