// The checks of cutover.yaml that span fields or services, which no single field's schema can make:
// a service's keys that need another key (listen, approval, the embedded router), listeners that clash,
// groups that name the wrong services, what DNS and a Kubernetes selector cannot do. schema.ts runs them
// in its refinements and adds what they return as custom issues.
import { isIP } from 'node:net';
import { parseHostPort, sameListener, type HostPort } from './address.ts';
import { SERVICE_NAME } from './defaults.ts';
import { edgeProblems, sameSharedListen } from './edge-schema.ts';
import { record } from './fields.ts';

/** A problem the schema adds as a custom issue: where it is, what to write instead. */
export type Problem = { message: string; path: PropertyKey[]; input: unknown };

/**
 * One service's checks across its fields: what needs listen, what needs the embedded router, buffer
 * against body limits, timeouts and what they do when they run out, then what DNS and a Kubernetes
 * selector cannot do. Takes a possibly partly parsed service.
 */
export function serviceProblems(s: unknown): Problem[] {
  const v = record(s) ?? {};
  const out: Problem[] = [];
  const kind = record(v.traffic)?.kind ?? 'router';
  if (v.listen === undefined && kind === 'router') {
    out.push({
      message:
        "listen is where users' traffic arrives at the embedded router; write it, like listen: 127.0.0.1:8080 (only a service with an external balancer in traffic may leave it out)",
      path: ['listen'],
      input: v.listen,
    });
  }
  if (v.listen === undefined && (v.tls !== undefined || v.pathPrefix !== undefined || (Array.isArray(v.hosts) && v.hosts.length > 0))) {
    out.push({
      message: 'hosts, pathPrefix and tls are for the listener users reach; write listen, or leave them to the external balancer',
      path: ['listen'],
      input: v.listen,
    });
  }
  if (v.listen === undefined && typeof v.workers === 'number' && v.workers > 1) {
    out.push({
      message: 'workers share the listen address; write listen, or leave workers at 1 (users come through the external balancer)',
      path: ['workers'],
      input: v.workers,
    });
  }
  if (record(v.analysis)?.retryOnStandby === true && kind !== 'router') {
    out.push({
      message: `retryOnStandby is done by the embedded router, and ${String(kind)} has the users' traffic; remove it, or use traffic: { kind: router }`,
      path: ['analysis', 'retryOnStandby'],
      input: true,
    });
  }
  const provider = record(v.provider);
  const replicas = typeof provider?.replicas === 'number' ? provider.replicas : 1;
  if (typeof provider?.previewReplicas === 'number' && provider.previewReplicas > replicas) {
    out.push({
      message: `provider.previewReplicas (${provider.previewReplicas}) is over provider.replicas (${replicas}): a slot is previewed with fewer replicas, then scaled up to replicas; lower previewReplicas or raise replicas`,
      path: ['provider', 'previewReplicas'],
      input: provider.previewReplicas,
    });
  }
  const buf = record(v.buffer);
  const maxBody = record(v.limits)?.maxRequestBody;
  if (buf?.requests === true && typeof maxBody === 'number' && typeof buf.maxMemory === 'number' && maxBody > buf.maxMemory) {
    out.push({
      message: `limits.maxRequestBody (${maxBody} bytes) is over buffer.maxMemory (${buf.maxMemory}): a buffered body is held in memory whole; raise maxMemory or lower maxRequestBody`,
      path: ['buffer', 'maxMemory'],
      input: buf.maxMemory,
    });
  }
  if (v.approvalTimeout !== undefined && v.approval === 'auto') {
    out.push({
      message: 'approvalTimeout only applies with approval: manual; set that or remove approvalTimeout',
      path: ['approvalTimeout'],
      input: v.approvalTimeout,
    });
  }
  if (v.onTimeout !== undefined && v.approvalTimeout === undefined) {
    out.push({
      message: 'onTimeout says what happens when approvalTimeout runs out; set approvalTimeout (with approval: manual) or remove onTimeout',
      path: ['onTimeout'],
      input: v.onTimeout,
    });
  }
  if (v.onProgressDeadline !== undefined && v.progressDeadline === undefined) {
    out.push({
      message:
        'onProgressDeadline says what happens when progressDeadline runs out; set progressDeadline (like 10m) or remove onProgressDeadline',
      path: ['onProgressDeadline'],
      input: v.onProgressDeadline,
    });
  }
  out.push(...dnsAndKubernetesProblems(v));
  return out;
}

/**
 * What DNS and a Kubernetes Service selector cannot do, refused at validate rather than at the first
 * switch: weights (DNS never; a selector only with an HTTPRoute), and DNS slots it cannot tell apart
 * (a record holds addresses, no ports: process replicas all run on 127.0.0.1, static ones must be IPs).
 */
function dnsAndKubernetesProblems(v: Record<string, unknown>): Problem[] {
  const traffic = record(v.traffic);
  const provider = record(v.provider);
  const out: Problem[] = [];
  const steps = record(v.shift)?.steps !== undefined;
  if (traffic?.kind === 'dns') {
    if (steps)
      out.push({ message: 'traffic kind dns cannot split traffic by weights; use shift: instant', path: ['shift'], input: v.shift });
    if (provider !== undefined && (provider.kind ?? 'process') === 'process')
      out.push({
        message:
          'traffic kind dns tells slots apart by IP address, and the process provider runs both slots on 127.0.0.1; use provider kind static (or kubernetes) with each slot on its own IPs',
        path: ['traffic', 'kind'],
        input: traffic.kind,
      });
    if (provider?.kind === 'static') {
      const hosts = (slot: string) =>
        (Array.isArray(provider[slot]) ? (provider[slot] as unknown[]) : []).flatMap((a) => {
          try {
            return [parseHostPort(a).host];
          } catch {
            return []; // reported by the address's own schema
          }
        });
      const blue = hosts('blue');
      const green = hosts('green');
      const named = [...blue, ...green].filter((h) => !isIP(h));
      if (named.length > 0)
        out.push({
          message: `traffic kind dns puts IP addresses in the record; ${named.join(', ')} ${named.length === 1 ? 'is a host name' : 'are host names'}: write the slots' addresses as IPs`,
          path: ['provider'],
          input: provider,
        });
      const shared = blue.filter((h) => green.includes(h));
      if (shared.length > 0)
        out.push({
          message: `traffic kind dns tells slots apart by IP address; blue and green share ${[...new Set(shared)].join(', ')}: give each slot its own IPs`,
          path: ['provider'],
          input: provider,
        });
    }
  }
  if (traffic?.kind === 'kubernetes-service' && steps && traffic.httpRoute === undefined)
    out.push({
      message: 'a Service selector picks one slot at a time; set traffic.httpRoute for shift steps, or use shift: instant',
      path: ['shift'],
      input: v.shift,
    });
  return out;
}

/** Every listener address in a (possibly partly parsed) config, with its path, in file order. */
function listeners(value: unknown): { path: PropertyKey[]; text: string; address: HostPort }[] {
  const out: { path: PropertyKey[]; text: string; address: HostPort }[] = [];
  const add = (p: PropertyKey[], text: unknown): void => {
    if (typeof text !== 'string') return;
    try {
      out.push({ path: p, text, address: parseHostPort(text) });
    } catch {
      // Reported by the field's own schema.
    }
  };
  const root = record(value);
  add(['api', 'listen'], record(root?.api)?.listen);
  add(['httpRedirect'], root?.httpRedirect);
  for (const [name, svc] of Object.entries(record(root?.services) ?? {})) {
    add(['services', name, 'listen'], record(svc)?.listen);
    add(['services', name, 'preview', 'listen'], record(record(svc)?.preview)?.listen);
  }
  return out;
}

const dotted = (p: PropertyKey[]): string => p.map(String).join('.');

/** A group names services that exist, each in one group at most, each switching in one swap. */
function groupProblems(
  groups: Record<string, unknown> | undefined,
  services: Record<string, unknown>,
): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  const member = new Map<string, string>();
  for (const [name, list] of Object.entries(groups ?? {})) {
    if (!Array.isArray(list)) continue;
    list.forEach((svc, i) => {
      const at = ['groups', name, i];
      if (typeof svc !== 'string' || !(svc in services)) {
        out.push({
          path: at,
          message: `${JSON.stringify(svc)} is not a service of this file; name one of ${Object.keys(services).join(', ')}`,
        });
        return;
      }
      const other = member.get(svc);
      if (other !== undefined)
        out.push({ path: at, message: `${svc} is in group ${other} already; a service belongs to one group at most` });
      member.set(svc, name);
      const cfg = record(services[svc]);
      if (cfg?.shift !== undefined && cfg.shift !== 'instant')
        out.push({
          path: ['services', svc, 'shift'],
          message: `${svc} is in group ${name}, whose services switch together in one swap; use shift: instant`,
        });
      const kind = record(cfg?.traffic)?.kind ?? 'router';
      if (kind !== 'router')
        out.push({
          path: at,
          message: `${svc} is moved by ${String(kind)}; a group switches the embedded routers together, so give its services traffic: { kind: router }`,
        });
    });
  }
  return out;
}

/**
 * The file's own checks, across services: service names, listeners that clash, httpRedirect without
 * tls, groups, and the edge's shared listeners. Takes a possibly partly parsed file.
 */
export function fileProblems(c: unknown): Problem[] {
  const out: Problem[] = [];
  for (const name of Object.keys(record(record(c)?.services) ?? {})) {
    if (!SERVICE_NAME.test(name)) {
      out.push({
        message: `service name ${JSON.stringify(name)} must start with a lowercase letter and hold only a-z, 0-9 and -, at most 63 characters; rename it`,
        path: ['services', name],
        input: name,
      });
    }
  }
  const seen = listeners(c);
  seen.forEach((l, i) => {
    // Services may share a listen address (the edge checks below say how); nothing else may.
    const shared = (o: (typeof seen)[number]): boolean =>
      o.path.length === 3 && l.path.length === 3 && o.path[2] === 'listen' && l.path[2] === 'listen' && sameSharedListen(o.text, l.text);
    const first = seen.slice(0, i).find((o) => sameListener(o.address, l.address) && !shared(o));
    if (first) {
      const api = first.path[0] === 'api' ? ', where the API listens; move it with api.listen' : '';
      out.push({
        message: `${l.text} clashes with ${dotted(first.path)} (${first.text}${api}); give every listener its own address`,
        path: l.path,
        input: l.text,
      });
    }
  });
  const anyTls = Object.values(record(record(c)?.services) ?? {}).some((svc) => record(svc)?.tls !== undefined);
  if (record(c)?.httpRedirect !== undefined && !anyTls)
    out.push({
      message: 'httpRedirect sends plain HTTP to https, but no service has tls; add tls to a service or remove httpRedirect',
      path: ['httpRedirect'],
      input: record(c)?.httpRedirect,
    });
  for (const p of groupProblems(record(record(c)?.groups), record(record(c)?.services) ?? {}))
    out.push({ message: p.message, path: p.path, input: undefined });
  for (const p of edgeProblems(record(c)?.services)) out.push({ message: p.message, path: p.path, input: undefined });
  return out;
}
