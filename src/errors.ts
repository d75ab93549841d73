// Errors with stable codes. Match on `code`, never on the message; every message says what to do next.

export type ErrorCode =
  | 'CUTOVER_E_CONFIG_INVALID'
  | 'CUTOVER_E_CONFIG_NOT_FOUND'
  | 'CUTOVER_E_USAGE'
  | 'CUTOVER_E_UNAUTHORIZED'
  | 'CUTOVER_E_FORBIDDEN'
  | 'CUTOVER_E_NOT_FOUND'
  | 'CUTOVER_E_BAD_REQUEST'
  | 'CUTOVER_E_BODY_TOO_LARGE'
  | 'CUTOVER_E_CONFLICT'
  | 'CUTOVER_E_SLOT_UNHEALTHY'
  | 'CUTOVER_E_PARITY_DRIFT'
  | 'CUTOVER_E_SWITCH_TIMEOUT'
  | 'CUTOVER_E_TRAFFIC_UNREACHABLE'
  | 'CUTOVER_E_TRAFFIC_REFUSED'
  | 'CUTOVER_E_API_UNREACHABLE'
  | 'CUTOVER_E_LISTEN'
  | 'CUTOVER_E_PROVISION_FAILED'
  | 'CUTOVER_E_PROVISION_ABORTED'
  | 'CUTOVER_E_PROVIDER_CLOSED'
  | 'CUTOVER_E_PROVIDER_UNSUPPORTED'
  | 'CUTOVER_E_STORE_UNAVAILABLE'
  | 'CUTOVER_E_STORE_UNWRITABLE'
  | 'CUTOVER_E_MIGRATION_UNSAFE'
  | 'CUTOVER_E_MIGRATION_FAILED'
  | 'CUTOVER_E_GATE_FAILED'
  | 'CUTOVER_E_HOOK_FAILED'
  | 'CUTOVER_E_INTERNAL';

export class CutoverError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, status = 500, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CutoverError';
    this.code = code;
    this.status = status;
  }
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** One problem in a config file, named by its path (`services.web.listen`). */
export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends CutoverError {
  readonly problems: ConfigProblem[];
  readonly file: string;
  constructor(file: string, problems: ConfigProblem[], options?: ErrorOptions) {
    super(
      'CUTOVER_E_CONFIG_INVALID',
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; fix ${problems.length === 1 ? 'it' : 'them'} and run \`cutover validate -c ${file}\``,
      400,
      options,
    );
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

export const usageError = (message: string): CutoverError => new CutoverError('CUTOVER_E_USAGE', message, 400);
export const notFound = (message: string): CutoverError => new CutoverError('CUTOVER_E_NOT_FOUND', message, 404);
export const badRequest = (message: string): CutoverError => new CutoverError('CUTOVER_E_BAD_REQUEST', message, 400);
export const conflict = (message: string): CutoverError => new CutoverError('CUTOVER_E_CONFLICT', message, 409);

export function isCutoverError(err: unknown): err is CutoverError {
  return err instanceof CutoverError;
}
