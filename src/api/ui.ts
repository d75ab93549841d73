// Serves the dashboard (src/ui) at / of the API listener: plain files, no build step, nothing loaded
// from elsewhere (the Content-Security-Policy says so to the browser too). The dashboard signs in
// with a token and calls the API like any client.
import { readFileSync } from 'node:fs';
import type http from 'node:http';

const UI_DIR = new URL('../ui/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/charts.js': { file: 'charts.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/** Answers the dashboard's files; false for any other path. Files are read once, at start. */
export function dashboardFiles(): (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean {
  const cache = new Map(Object.entries(FILES).map(([path, f]) => [path, { type: f.type, body: readFileSync(new URL(f.file, UI_DIR)) }]));
  return (req, res, path) => {
    const f = cache.get(path);
    if (!f || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    res.writeHead(200, {
      'content-type': f.type,
      'content-length': f.body.length,
      'cache-control': 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    res.end(req.method === 'HEAD' ? undefined : f.body);
    return true;
  };
}
