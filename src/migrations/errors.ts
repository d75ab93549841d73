// Errors of the migration steps, with their stable codes.
import { CutoverError } from '../errors.ts';
import type { Finding } from './lint.ts';

/** The expand migrations would break the live version; nothing ran. */
export class MigrationUnsafeError extends CutoverError {
  readonly kind = 'migration-unsafe';
  readonly findings: Finding[];
  constructor(findings: Finding[]) {
    const errors = findings.filter((f) => f.severity === 'error');
    const first = errors[0];
    const where = first ? ` (first: ${first.file}:${first.line}: ${first.rule})` : '';
    super(
      'CUTOVER_E_MIGRATION_UNSAFE',
      `expand migrations refused before running: ${errors.length} statement${errors.length === 1 ? '' : 's'} would break the live version while both versions run${where}; ` +
        'move them to the contract migration, or let one through with `-- cutover:allow <rule> <reason>` on the line before it; `cutover migrations lint -c FILE` lists them all',
      409,
    );
    this.name = 'MigrationUnsafeError';
    this.findings = findings;
  }
}

/** A migration command could not be started as configured. */
export class MigrationSetupError extends CutoverError {
  readonly kind = 'migration-setup';
  constructor(message: string, options?: ErrorOptions) {
    super('CUTOVER_E_MIGRATION_FAILED', message, 409, options);
    this.name = 'MigrationSetupError';
  }
}
