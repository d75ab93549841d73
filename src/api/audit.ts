// The audit log: every mutating API call (who, what, when, from where, and how it ended) is an
// `audit` event in the store, beside the release events, so history and the API show it.
import type { Logger } from '../log.ts';
import type { Store, StoreEvent } from '../store/types.ts';
import type { Caller } from './auth.ts';

/** The `service` of audit events that belong to no service (tokens). */
export const AUDIT_ALL = '*';
/** Events read back to find the newest audit entries among release events. */
const SCAN = 5000;

export interface AuditInput {
  service: string;
  /** `role: 'none'` for a call without a valid token. */
  caller: Pick<Caller, 'name' | 'tokenId'> & { role: Caller['role'] | 'none' };
  method: string;
  path: string;
  status: number;
  remote: string;
  body: unknown;
  result: unknown;
  /** The error code when the call was refused or failed. */
  error: string | null;
}

/** Records a call; a store that cannot take it is logged, and the call's answer stands. */
export async function writeAudit(store: Store, log: Logger, a: AuditInput): Promise<void> {
  const what = `${a.method} ${a.path}`;
  const target = resultId(a.result);
  try {
    await store.appendEvent({
      service: a.service,
      type: 'audit',
      actor: `api:${a.caller.name}`,
      reason: `${what} ${a.error ? `refused (${a.status} ${a.error})` : `done (${a.status})`}`,
      data: {
        method: a.method,
        path: a.path,
        status: a.status,
        role: a.caller.role,
        token: a.caller.tokenId,
        remote: a.remote,
        body: redact(a.body),
        ...(target ? { id: target } : {}),
        ...(a.error ? { error: a.error } : {}),
      },
    });
  } catch (err) {
    log.error('cannot write the audit log', { err, what, caller: a.caller.name });
  }
}

/** Newest first; `service` null for all of them. */
export async function auditEntries(store: Store, service: string | null, limit: number): Promise<StoreEvent[]> {
  const events = await store.events({ ...(service !== null ? { service } : {}), order: 'desc', limit: SCAN });
  return events.filter((e) => e.type === 'audit').slice(0, limit);
}

function resultId(result: unknown): string | null {
  if (result && typeof result === 'object' && 'id' in result && typeof result.id === 'string') return result.id;
  return null;
}

/** Bodies are small and hold no secrets today; anything named like one is kept out all the same. */
function redact(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body ?? null;
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, /token|secret|password/i.test(k) ? '[redacted]' : v]));
}
