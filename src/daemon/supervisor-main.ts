// The supervisor's process: `node supervisor-main.ts <stateDir> <grace ms>`, started detached (its
// own session, output to stateDir/supervisor.log, or beside its socket when the stateDir cannot be written) by the first controller of a stateDir.
import { createLogger } from '../log.ts';
import { Supervisor } from './supervisor.ts';

const [stateDir, grace] = process.argv.slice(2);
if (stateDir === undefined) {
  process.stderr.write('usage: supervisor-main.ts STATE_DIR [GRACE_MS]\n');
  process.exit(2);
}
const log = createLogger({}, { process: 'supervisor' });
const supervisor = new Supervisor(stateDir, Number(grace ?? 60_000), log);
// Signals meant for a terminal's foreground group never reach it (own session); SIGTERM sent to it
// directly is a deliberate stop.
process.on('SIGHUP', () => {});
process.on('SIGINT', () => {});
process.on('SIGTERM', () => void supervisor.stop({}));
try {
  await supervisor.start();
} catch (err) {
  log.error('supervisor could not start', { err });
  process.exit(1);
}
await supervisor.stopped;
process.exit(0);
