// Who is calling: bearer tokens. The daemon's own CUTOVER_TOKEN is accepted as admin; without it,
// an admin token is made at the first start and kept in stateDir, readable only by its owner.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CutoverError } from '../errors.ts';

export type Role = 'viewer' | 'deployer' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, deployer: 2, admin: 3 };

export interface Caller {
  name: string;
  role: Role;
}

export const ADMIN_TOKEN_FILE = 'admin.token';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The admin token of this daemon: CUTOVER_TOKEN, or the one in stateDir (made on first use). */
export function daemonAdminToken(stateDir: string): { token: string; file: string | null } {
  const env = process.env.CUTOVER_TOKEN;
  if (env !== undefined && env !== '') return { token: env, file: null };
  const file = join(stateDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), file };
  const token = `cut_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return { token, file };
}

export class Authenticator {
  private readonly adminHash: Buffer;
  constructor(adminToken: string) {
    this.adminHash = Buffer.from(hashToken(adminToken), 'hex');
  }

  /** The caller of a request, or a 401 naming what to send. */
  authenticate(header: string | undefined): Caller {
    if (header === undefined || !header.startsWith('Bearer ')) {
      throw new CutoverError('CUTOVER_E_UNAUTHORIZED', 'missing bearer token: send `Authorization: Bearer <token>` (the CLI reads CUTOVER_TOKEN)', 401);
    }
    const given = Buffer.from(hashToken(header.slice(7).trim()), 'hex');
    if (timingSafeEqual(given, this.adminHash)) return { name: 'admin', role: 'admin' };
    throw new CutoverError('CUTOVER_E_UNAUTHORIZED', 'unknown or revoked token: check CUTOVER_TOKEN', 401);
  }

  static require(caller: Caller, role: Role): void {
    if (RANK[caller.role] < RANK[role]) {
      throw new CutoverError('CUTOVER_E_FORBIDDEN', `this needs the ${role} role; your token has ${caller.role}`, 403);
    }
  }
}
