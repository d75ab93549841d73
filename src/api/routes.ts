// The API's route table: every /api/v1 call the daemon answers itself (services, releases, audit,
// tokens, logs), each with the least role that may call it, the zod schema its body is parsed with and
// what it answers (the OpenAPI document is made from these). server.ts matches, authenticates, audits
// and answers; the routes other pieces add (events, traffic, groups, hold, logs) use the Route type here.
import type http from 'node:http';
import { z } from 'zod';
import { CutoverError } from '../errors.ts';
import { hashToken, newToken, type Caller, type Role } from './auth.ts';
import { auditEntries } from './audit.ts';
import type { ControlPlane } from './control.ts';
import { logRoutes } from './logs.ts';
import { forRole } from './visibility.ts';
import {
  ActionBody,
  AuditEntry,
  DrillBody,
  NewTokenAnswer,
  PromoteBody,
  ReleaseBody,
  RollbackBody,
  SwitchBody,
  TokenAnswer,
  TokenBody,
  WhoAmI,
} from './schemas.ts';
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';

export interface Ctx<B = unknown> {
  caller: Caller;
  params: Record<string, string>;
  query: URLSearchParams;
  body: B;
  remote: string;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** An OpenAPI path template: `/api/v1/services/{service}`. */
  path: string;
  role: Role;
  summary: string;
  body?: z.ZodType;
  /** What a successful answer holds, for the OpenAPI document (where it is worth describing). */
  answer?: z.ZodType;
  /** The status of a successful answer; default 200. */
  status?: number;
  // biome-ignore lint/suspicious/noExplicitAny: routes differ in their body type; each handler is checked where it is declared
  handler: (ctx: Ctx<any>) => Promise<unknown>;
  /** Answers on its own (a stream); `handler` is not called. */
  stream?: (req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx) => void;
}

/** A route whose handler sees the body its schema parsed. */
function route<S extends z.ZodType>(
  r: Omit<Route, 'body' | 'handler'> & { body: S; handler: (c: Ctx<z.infer<S>>) => Promise<unknown> },
): Route;
function route(r: Omit<Route, 'body'> & { body?: undefined }): Route;
function route(r: Route): Route {
  return r;
}

export function apiRoutes(daemon: ControlPlane): Route[] {
  const store = () => daemon.store();
  return [
    route({
      method: 'GET',
      path: '/api/v1/services',
      role: 'viewer',
      summary: 'every service: live slot, weights, generation, slots with target health, current release',
      handler: async (c) => (await Promise.all(daemon.services().map((s) => daemon.status(s.name)))).map((s) => forRole(s, c.caller.role)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/services/{service}',
      role: 'viewer',
      summary: "one service's status",
      handler: async (c) => forRole(await daemon.status(c.params.service!), c.caller.role),
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/releases',
      role: 'deployer',
      summary: 'start a release of a version into the idle slot',
      body: ReleaseBody,
      status: 202,
      handler: async (c) => {
        const releases = daemon.releases(c.params.service!);
        await configStillValid(daemon.configFile);
        return releases.statusOf(await releases.deploy(c.body.version, actorOf(c)));
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/services/{service}/releases',
      role: 'viewer',
      summary: 'releases, newest first',
      handler: async (c) => daemon.releases(c.params.service!).list(),
    }),
    route({
      method: 'GET',
      path: '/api/v1/services/{service}/releases/{release}',
      role: 'viewer',
      summary: 'one release with its events',
      handler: async (c) => {
        const releases = daemon.releases(c.params.service!);
        return forRole(await releases.statusOf(await releases.get(c.params.release!)), c.caller.role);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/promote',
      role: 'deployer',
      summary:
        'approve a release that waits for manual approval; during a shift, go on to the next step now (full: to 100% now); while observing, promote now',
      body: PromoteBody,
      handler: async (c) => {
        const releases = daemon.releases(c.params.service!);
        return releases.statusOf(await releases.promote(actorOf(c), { full: c.body.full ?? false }));
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/rollback',
      role: 'deployer',
      summary:
        'put all traffic back on the standby slot (one route-table swap); with no standby, or `to` another version, a release of the earlier version named a rollback (through its gates unless it stands by)',
      body: RollbackBody,
      handler: async (c) => {
        const releases = daemon.releases(c.params.service!);
        const to = c.body.to;
        return releases.statusOf(
          await releases.rollback(actorOf(c), c.body.reason, { byRelease: true, ...(to === undefined ? {} : { to }) }),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/abort',
      role: 'deployer',
      summary: 'end a release before traffic moves; the live slot is not touched',
      body: ActionBody,
      handler: async (c) => {
        const releases = daemon.releases(c.params.service!);
        return releases.statusOf(await releases.abort(actorOf(c), c.body.reason));
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/drills',
      role: 'deployer',
      summary:
        "a rollback drill: a release of the live version whose new slot's answers fail (errors) or wait (latency, ms) on purpose; analysis must roll it back within the MTTR goal (1 s); the release's drill field has the result",
      body: DrillBody,
      status: 202,
      handler: async (c) => {
        const releases = daemon.releases(c.params.service!);
        await configStillValid(daemon.configFile);
        return releases.statusOf(await releases.drill({ errors: c.body.errors ?? 0, latency: c.body.latency ?? 0 }, actorOf(c)));
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/migrations/contract',
      role: 'deployer',
      summary: 'run the contract migration now; only once the latest release is retired, when no old code is left',
      body: ActionBody,
      handler: async (c) => {
        const r = await daemon.releases(c.params.service!).contract(actorOf(c));
        return { service: c.params.service, ok: r.ok, exitCode: r.exitCode, durationMs: r.durationMs, output: r.output };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/services/{service}/switch',
      role: 'admin',
      summary: "move all traffic to a slot: the operator's escape hatch",
      body: SwitchBody,
      handler: async (c) => {
        const service = c.params.service!;
        const state = await daemon.switchTo(service, c.body.slot, actorOf(c), c.body.reason ?? 'operator switch', {
          force: c.body.force ?? false,
        });
        return { service, live: state.live, generation: state.generation };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/services/{service}/audit',
      role: 'viewer',
      summary: 'the audit log of a service: who changed what, when, from where; newest first (?limit=)',
      answer: z.array(AuditEntry),
      handler: async (c) => auditEntries(store(), daemon.service(c.params.service!).name, limitOf(c.query)),
    }),
    route({
      method: 'GET',
      path: '/api/v1/services/{service}/parity',
      role: 'viewer',
      summary:
        'what differs between the two slots besides the version: command, environment variable names (never values), replicas, config hash, what the provider sees running',
      handler: async (c) => daemon.parity(daemon.service(c.params.service!).name),
    }),
    route({
      method: 'GET',
      path: '/api/v1/audit',
      role: 'viewer',
      summary: 'the whole audit log, newest first (?limit=)',
      answer: z.array(AuditEntry),
      handler: async (c) => auditEntries(store(), null, limitOf(c.query)),
    }),
    route({
      method: 'POST',
      path: '/api/v1/restart',
      role: 'admin',
      summary:
        'restart the controller in place from the code and config on disk, with the routers serving throughout; an invalid config changes nothing (400)',
      status: 202,
      handler: async () => ({ restarting: true, ...(await daemon.restart()) }),
    }),
    route({
      method: 'POST',
      path: '/api/v1/shutdown',
      role: 'admin',
      summary:
        "a deliberate stop (as SIGTERM): the routers drain for each service's drain, the replicas stop, the listeners close and the controller exits; answered before it begins",
      status: 202,
      handler: async () => ({ stopping: true, ...(await daemon.shutdown()) }),
    }),
    route({
      method: 'GET',
      path: '/api/v1/whoami',
      role: 'viewer',
      summary: "the caller's token name and role (what the dashboard shows and which buttons it offers)",
      answer: WhoAmI,
      handler: async (c) => ({ name: c.caller.name, role: c.caller.role }),
    }),
    route({
      method: 'POST',
      path: '/api/v1/tokens',
      role: 'admin',
      summary: 'make a token with a role; the secret is in this answer only',
      answer: NewTokenAnswer,
      body: TokenBody,
      status: 201,
      handler: async (c) => {
        const token = newToken();
        const name = c.body.name ?? `${c.body.role}-${new Date().toISOString().slice(0, 10)}`;
        const record = await store().createToken({ name, role: c.body.role, hash: hashToken(token) });
        return { ...publicToken(record), token };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/tokens',
      role: 'admin',
      summary: 'every token (never its secret), revoked ones included',
      answer: z.array(TokenAnswer),
      handler: async () => (await store().listTokens()).map(publicToken),
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/tokens/{id}',
      role: 'admin',
      summary: 'revoke a token: it stops working at once',
      answer: TokenAnswer,
      handler: async (c) => publicToken(await store().revokeToken(c.params.id!)),
    }),
    ...logRoutes(daemon),
  ];
}

export function actorOf(c: Ctx): string {
  return `api:${c.caller.name}@${c.remote}`;
}

function limitOf(q: URLSearchParams): number {
  const n = Number(q.get('limit') ?? 100);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : 100;
}

function publicToken(t: { id: string; name: string; role: Role; createdAt: string; revokedAt: string | null }) {
  return { id: t.id, name: t.name, role: t.role, createdAt: t.createdAt, revokedAt: t.revokedAt };
}

/**
 * A deploy is refused while the config file on disk no longer validates: whoever broke it should hear
 * so before a release starts (the daemon keeps running the config it started with either way).
 */
async function configStillValid(file: string): Promise<void> {
  try {
    await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      const lines = err.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      throw new CutoverError('CUTOVER_E_CONFIG_INVALID', `${err.message}. Nothing was deployed. Problems: ${lines}`, 400, { cause: err });
    }
    if (err instanceof CutoverError) throw new CutoverError(err.code, `${err.message}. Nothing was deployed`, 400, { cause: err });
    throw err;
  }
}
