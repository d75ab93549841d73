// Field schemas shared by the sections of cutover.yaml: durations, addresses, names. Each says what to
// write instead when the value is wrong.
import { z } from 'zod';
import { ADDRESS_PATTERN, parseHostPort } from './address.ts';
import type { StoreConfig } from './types.ts';
import { parseEtcdUrl } from '../store/etcd-keys.ts';
import { DURATION_PATTERN, formatDuration, parseDuration } from './duration.ts';

/** What a duration or address field says of itself; a key says more (what it does, its default). */
export const DURATION_HELP = 'A duration with its unit: 250ms, 30s, 5m, 1h, 1m30s.';
export const ADDRESS_HELP = 'host:port, like 127.0.0.1:8080; IPv6 in brackets: [::1]:8080.';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Checks that relate several fields run even when other fields are wrong, so one run lists every problem.
// Their input may then be partly unparsed, hence the defensive reads.
export const always = { when: () => true };
export const record = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

export const messageOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

/** A duration string (`30s`) in, milliseconds out; `min` in milliseconds. */
export function duration(min = 0) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? undefined : messageOf(() => parseDuration(iss.input))) })
    .meta({ pattern: DURATION_PATTERN, description: DURATION_HELP })
    .transform((text, ctx) => {
      let ms: number;
      try {
        ms = parseDuration(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message, input: text });
        return z.NEVER;
      }
      if (ms < min) {
        ctx.addIssue({ code: 'custom', message: `\`${text}\` is too short; write at least ${formatDuration(min)}`, input: text });
        return z.NEVER;
      }
      return ms;
    });
}

/** `host:port`; for listeners and static targets. */
export const address = z
  .string({ error: (iss) => (iss.input === undefined ? undefined : messageOf(() => parseHostPort(iss.input))) })
  .meta({ pattern: ADDRESS_PATTERN, description: ADDRESS_HELP })
  .superRefine((text, ctx) => {
    const message = messageOf(() => parseHostPort(text));
    if (message) ctx.addIssue({ code: 'custom', message, input: text });
  });

export const nonEmpty = (what: string) =>
  z
    .string()
    .trim()
    .min(1, { error: `expected ${what}, got an empty string` });
export const urlPath = z
  .string()
  .regex(/^\/\S*$/, { error: (iss) => `expected a path starting with /, like /healthz, got ${JSON.stringify(iss.input)}` });
export const headerName = z
  .string()
  .regex(HEADER_NAME, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid header name; use letters, digits and -` });
export const cookieName = z
  .string()
  .regex(HEADER_NAME, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid cookie name; use letters, digits, - and _` });
export const headerMap = z.record(headerName, z.string());
export const share = (what: string) => {
  const error = `${what} is a fraction from 0 to 1, like 0.01 for 1%`;
  return z.number().min(0, { error }).max(1, { error });
};
export const positiveInt = (max: number) => z.int().min(1).max(max);
export const httpStatus = z.int().min(100).max(599);
export const command = nonEmpty('a command, like npm run e2e');

/** `etcd://host:2379,host:2379[/prefix]`, or `sqlite` (the default). */
export const storeUrl = z
  .string({ error: (iss) => (iss.input === undefined ? undefined : 'expected sqlite, or etcd://host:2379,host:2379[/prefix]') })
  .meta({ description: 'sqlite (default: in stateDir), or etcd://host:2379,host:2379[/prefix] for a fleet.' })
  .transform((text, ctx): StoreConfig => {
    if (text.trim() === 'sqlite') return { kind: 'sqlite' };
    try {
      return { kind: 'etcd', ...parseEtcdUrl(text) };
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, input: text });
      return z.NEVER;
    }
  });
