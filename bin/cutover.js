#!/usr/bin/env node
// The `cutover` command. The CLI is TypeScript run natively by Node 24 (type stripping).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(
    `cutover needs Node.js 24 or newer (this is ${process.version}); run it through npm (npx cutover) so the project's own Node is used\n`,
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
