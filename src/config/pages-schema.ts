// The router's own pages: `errorPages` (one file per status the router answers itself) and
// `maintenance` (the page of `cutover maintenance on`, its Retry-After and default message). The files
// are read here, when the config is loaded, so `cutover validate` finds a missing or unreadable one
// and answering never touches the disk.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PAGE_STATUSES } from '../router/pages.ts';
import { duration, nonEmpty } from './fields.ts';
import type { MaintenanceConfig, PageFile } from './types.ts';

/** Pages are kept in memory by every router process: one this large is surely a mistake. */
export const MAX_PAGE_BYTES = 1024 * 1024;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
};

function pageFile(dir: string) {
  return nonEmpty('the path of a page file, like pages/502.html').transform((p, ctx): PageFile => {
    const file = path.resolve(dir, p);
    const contentType = TYPES[path.extname(file).toLowerCase()];
    if (contentType === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${p}: name a .html, .htm, .txt or .json file (its type is sent as Content-Type)`,
        input: p,
      });
      return z.NEVER;
    }
    try {
      const size = statSync(file).size;
      if (size > MAX_PAGE_BYTES) {
        ctx.addIssue({ code: 'custom', message: `${file} is ${size} bytes; a page is at most ${MAX_PAGE_BYTES} bytes`, input: p });
        return z.NEVER;
      }
      return { file, body: readFileSync(file, 'utf8'), contentType };
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); write the path of the page relative to this config file`,
        input: p,
      });
      return z.NEVER;
    }
  });
}

const STATUS_LIST = PAGE_STATUSES.join(', ');

export function errorPages(dir: string) {
  return z
    .record(
      z.string().refine((k) => (PAGE_STATUSES as readonly number[]).includes(Number(k)) && String(Number(k)) === k, {
        error: (iss) => `${JSON.stringify(iss.input)} is not a status the router answers itself; use one of ${STATUS_LIST}`,
      }),
      pageFile(dir),
    )
    .default({})
    .describe(
      `Pages for the router's own answers, by status (${STATUS_LIST}), like { 502: pages/502.html }: a file (.html, .txt or .json, at most 1 MiB) read at load. Statuses not named get a line of plain text.`,
    );
}

export function maintenance(dir: string) {
  return z
    .strictObject({
      page: pageFile(dir)
        .optional()
        .describe(
          'The page users get while maintenance is on (.html, .txt or .json); {{message}} in it is replaced by the message. Default: a plain HTML page.',
        ),
      retryAfter: duration(1000).prefault('5m').describe('Sent as Retry-After (in whole seconds) with the maintenance page (default 5m).'),
      message: z
        .string()
        .min(1)
        .max(1000)
        .optional()
        .describe('The message when `cutover maintenance on` gives none (default: down for maintenance, back shortly).'),
    })
    .prefault({})
    .describe('The maintenance page of `cutover maintenance <service> on`: a 503 with Retry-After to every user request.')
    .transform(
      (m): MaintenanceConfig => ({
        retryAfter: m.retryAfter,
        ...(m.page !== undefined ? { page: m.page } : {}),
        ...(m.message !== undefined ? { message: m.message } : {}),
      }),
    );
}
