// The semantics every Store shares, written once so SQLite, memory and etcd refuse the same things
// with the same codes and messages.

import { randomBytes } from 'node:crypto';
import { conflict, CutoverError, notFound } from '../errors.ts';
import { canTransition, isTerminal, nextPhases } from '../lifecycle.ts';
import type { JsonObject, NewEvent, Phase, ReleaseRecord, RouteState, TransitionInput } from './types.ts';

export const DEFAULT_RELEASE_LIMIT = 50;
export const DEFAULT_EVENT_LIMIT = 1000;

/** `rel_` + time in base36 + random: unique, short enough to type, and sorts by creation. */
export function newId(prefix: 'rel' | 'tok'): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(4).toString('hex')}`;
}

/** A JSON round trip: what goes in comes out as a store would give it back, sharing nothing. */
export function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function limitOf(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
}

export function releaseNotFound(id: string): CutoverError {
  return notFound(`no release ${id}; run \`cutover history <service>\` to see the releases there are`);
}

export function activeReleaseConflict(active: ReleaseRecord): CutoverError {
  return conflict(
    `${active.service} already has release ${active.id} (version ${active.version}) in phase ${active.phase}; ` +
      `one release at a time per service: wait for it to end, or run \`cutover abort ${active.service}\``,
  );
}

/** Throws unless `release` may move to `to` now (and is in `input.from`, when given). */
export function checkTransition(release: ReleaseRecord, to: Phase, input: TransitionInput): void {
  const expected = input.from === undefined ? undefined : typeof input.from === 'string' ? [input.from] : input.from;
  if (expected !== undefined && !expected.includes(release.phase)) {
    throw conflict(
      `release ${release.id} of ${release.service} is ${release.phase} now, not ${expected.join(' or ')}; ` +
        `someone else moved it first: read its status again with \`cutover status ${release.service}\``,
    );
  }
  if (isTerminal(release.phase)) {
    throw conflict(
      `release ${release.id} of ${release.service} already ended ${release.phase}; it cannot become ${to}. ` +
        `Start a new release with \`cutover deploy ${release.service} <version>\``,
    );
  }
  if (!canTransition(release.phase, to)) {
    throw conflict(
      `release ${release.id} of ${release.service} is ${release.phase}; it cannot become ${to} ` +
        `(from ${release.phase} it can become ${nextPhases(release.phase).join(', ')})`,
    );
  }
}

/** Throws unless an event may refer to `release` (null: the store has no release with that id). */
export function checkEventRelease(event: NewEvent, release: ReleaseRecord | null): void {
  if (event.releaseId === undefined || event.releaseId === null) return;
  if (release === null) throw releaseNotFound(event.releaseId);
  if (release.service !== event.service) {
    throw new CutoverError(
      'CUTOVER_E_INTERNAL',
      `an event for service ${event.service} names release ${release.id}, which belongs to ${release.service}; this is a bug, report it`,
    );
  }
}

export function checkPhaseEventType(event: NewEvent): void {
  if ((event.type as string) === 'phase') {
    throw new CutoverError(
      'CUTOVER_E_INTERNAL',
      'phase events are written by createRelease and transition only, so the phase table is always enforced; this is a bug, report it',
    );
  }
}

export function checkRouteGeneration(state: RouteState, expectGeneration: number): void {
  if (!Number.isSafeInteger(state.generation) || state.generation <= expectGeneration) {
    throw new CutoverError(
      'CUTOVER_E_INTERNAL',
      `route state of ${state.service} must have a generation above ${expectGeneration}, got ${state.generation}; this is a bug, report it`,
    );
  }
}

export function staleRouteConflict(service: string, expected: number, actual: number): CutoverError {
  return conflict(
    `the route table of ${service} changed meanwhile (generation ${actual}, expected ${expected}); read it again and retry the change`,
  );
}

export function mergeData(current: JsonObject | undefined, patch: JsonObject | undefined): JsonObject | undefined {
  if (patch === undefined) return current;
  return { ...current, ...cloneJson(patch) };
}
