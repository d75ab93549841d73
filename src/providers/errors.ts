// Errors of providers. Their stable codes are not yet in src/errors.ts's ErrorCode, so they travel in
// `providerCode` while `code` is CUTOVER_E_INTERNAL; once ErrorCode has them, pass `providerCode` to
// super() and drop the field. Match on `providerCode`, never on the message.
import { CutoverError } from '../errors.ts';
import type { ReplicaExit } from './types.ts';

export type ProviderErrorCode =
  /** A replica could not be started, or exited while its slot was being provisioned. */
  | 'CUTOVER_E_PROVISION_FAILED'
  /** Provisioning was aborted (the release was aborted, or the daemon is shutting down). */
  | 'CUTOVER_E_PROVISION_ABORTED'
  /** The provider was closed; nothing more can be started with it. */
  | 'CUTOVER_E_PROVIDER_CLOSED'
  /** The provider kind named in the config is not built yet. */
  | 'CUTOVER_E_PROVIDER_UNSUPPORTED';

const statusOf: Record<ProviderErrorCode, number> = {
  CUTOVER_E_PROVISION_FAILED: 502,
  CUTOVER_E_PROVISION_ABORTED: 409,
  CUTOVER_E_PROVIDER_CLOSED: 503,
  CUTOVER_E_PROVIDER_UNSUPPORTED: 501,
};

export interface ReplicaFailure {
  replica: number;
  exit: ReplicaExit | null;
  /** The replica's last output lines, oldest first. */
  lastLines: string[];
}

export class ProviderError extends CutoverError {
  readonly providerCode: ProviderErrorCode;
  readonly failure: ReplicaFailure | null;
  constructor(code: ProviderErrorCode, message: string, options?: ErrorOptions & { failure?: ReplicaFailure }) {
    super('CUTOVER_E_INTERNAL', message, statusOf[code], options);
    this.name = 'ProviderError';
    this.providerCode = code;
    this.failure = options?.failure ?? null;
  }
}

export function isProviderError(err: unknown, code?: ProviderErrorCode): err is ProviderError {
  return err instanceof ProviderError && (code === undefined || err.providerCode === code);
}

export function closedError(service: string): ProviderError {
  return new ProviderError(
    'CUTOVER_E_PROVIDER_CLOSED',
    `the provider of ${service} is closed (the daemon is shutting down); start the daemon again to deploy`,
  );
}

export function abortedError(service: string, slot: string, reason: unknown): ProviderError {
  return new ProviderError(
    'CUTOVER_E_PROVISION_ABORTED',
    `provisioning ${service}/${slot} was aborted and what it started was stopped; deploy again when ready`,
    { cause: reason },
  );
}
