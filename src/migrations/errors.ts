// Errors of the migration steps. They carry the codes errors.ts has today; the codes we want there
// instead are named beside each class, so callers can match on `kind` until then.
import { CutoverError } from '../errors.ts';
import type { Finding } from './lint.ts';

/** The expand migrations would break the live version; nothing ran. (Wanted code: CUTOVER_E_MIGRATION_UNSAFE.) */
export class MigrationUnsafeError extends CutoverError {
  readonly kind = 'migration-unsafe';
  readonly findings: Finding[];
  constructor(findings: Finding[]) {
    const errors = findings.filter((f) => f.severity === 'error');
    const first = errors[0];
    const where = first ? ` (first: ${first.file}:${first.line}: ${first.rule})` : '';
    super(
      'CUTOVER_E_CONFLICT',
      `expand migrations refused before running: ${errors.length} statement${errors.length === 1 ? '' : 's'} would break the live version while both versions run${where}; ` +
        'move them to the contract migration, or let one through with `-- cutover:allow <rule> <reason>` on the line before it; `cutover migrations lint -c FILE` lists them all',
      409,
    );
    this.name = 'MigrationUnsafeError';
    this.findings = findings;
  }
}

/** A migration command could not be started as configured. (Wanted code: CUTOVER_E_MIGRATION_FAILED.) */
export class MigrationSetupError extends CutoverError {
  readonly kind = 'migration-setup';
  constructor(message: string, options?: ErrorOptions) {
    super('CUTOVER_E_CONFLICT', message, 409, options);
    this.name = 'MigrationSetupError';
  }
}
