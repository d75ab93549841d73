// Loaded with `--import` by bin/cutover.js when cutover runs from an installed package: Node strips
// TypeScript types itself, but refuses to for files under node_modules, which is where npm puts us.
// This hook strips the types of cutover's own .ts files (never a dependency's) with Node's own
// stripTypeScriptTypes, so the installed package runs the very same files as a checkout does.
import { readFileSync } from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith('file:') && url.endsWith('.ts')) {
      const file = fileURLToPath(url);
      if (file.startsWith(root) && !file.slice(root.length).includes('node_modules')) {
        return { format: 'module', source: stripTypeScriptTypes(readFileSync(file, 'utf8')), shortCircuit: true };
      }
    }
    return nextLoad(url, context);
  },
});
