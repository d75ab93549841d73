// Errors of providers: a CutoverError whose code is one of the provider codes, plus what failed.
// Match on `code` (or isProviderError(err, code)), never on the message.
import { CutoverError, type ErrorCode } from '../errors.ts';
import type { ReplicaExit } from './types.ts';

export type ProviderErrorCode = Extract<
  ErrorCode,
  /** A replica could not be started, or exited while its slot was being provisioned. */
  | 'CUTOVER_E_PROVISION_FAILED'
  /** Provisioning was aborted (the release was aborted, or the daemon is shutting down). */
  | 'CUTOVER_E_PROVISION_ABORTED'
  /** The provider was closed; nothing more can be started with it. */
  | 'CUTOVER_E_PROVIDER_CLOSED'
  /** The provider kind named in the config is not built yet. */
  | 'CUTOVER_E_PROVIDER_UNSUPPORTED'
>;

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
  declare readonly code: ProviderErrorCode;
  /** Set when a replica failed: which one, how it ended, what it printed last. */
  readonly failure: ReplicaFailure | null;
  constructor(code: ProviderErrorCode, message: string, options?: ErrorOptions & { failure?: ReplicaFailure }) {
    super(code, message, statusOf[code], options);
    this.name = 'ProviderError';
    this.failure = options?.failure ?? null;
  }
}

export function isProviderError(err: unknown, code?: ProviderErrorCode): err is ProviderError {
  return err instanceof ProviderError && (code === undefined || err.code === code);
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
