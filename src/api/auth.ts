// Who is calling: bearer tokens. The daemon's own CUTOVER_TOKEN is accepted as admin; beside it, an
// admin token is made at the first start and kept in stateDir, readable only by its owner. Tokens
// made with `cutover token create` live in the store, hashed; a revoked one stops working at once.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CutoverError } from '../errors.ts';
import type { Store, TokenRole } from '../store/types.ts';
import { keepSecretValue } from '../secrets.ts';

export type Role = TokenRole;
export const ROLES: readonly Role[] = ['viewer', 'deployer', 'admin'];
const RANK: Record<Role, number> = { viewer: 1, deployer: 2, admin: 3 };

export interface Caller {
  /** The token's name (`admin` for the daemon's own tokens). */
  name: string;
  role: Role;
  /** The store id of the token; null for the daemon's own admin tokens. */
  tokenId: string | null;
}

export const ADMIN_TOKEN_FILE = 'admin.token';
const TOKEN_PREFIX = 'cut_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new secret: 192 random bits, so an unsalted hash is enough to keep it. */
export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(24).toString('base64url')}`;
}

/**
 * The admin tokens of this daemon: the one in stateDir (made at the first start, mode 0600) and
 * CUTOVER_TOKEN when it is set. `file` is where the local CLI finds the first.
 */
export function daemonAdminToken(stateDir: string): { tokens: string[]; file: string } {
  const file = join(stateDir, ADMIN_TOKEN_FILE);
  let token: string;
  if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
  else {
    token = newToken();
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  }
  // Never printed by a child into what viewers read (a gate that cats stateDir, say).
  keepSecretValue(token);
  const env = process.env.CUTOVER_TOKEN;
  return { tokens: env !== undefined && env !== '' && env !== token ? [token, env] : [token], file };
}

export class Authenticator {
  private readonly adminHashes: Buffer[];
  private readonly store: Pick<Store, 'findTokenByHash'>;

  constructor(adminTokens: string[], store: Pick<Store, 'findTokenByHash'>) {
    this.adminHashes = adminTokens.map((t) => Buffer.from(hashToken(t), 'hex'));
    this.store = store;
  }

  /** The caller of a request, or a 401 naming what to send. */
  async authenticate(header: string | undefined): Promise<Caller> {
    const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (m === null) {
      throw new CutoverError(
        'CUTOVER_E_UNAUTHORIZED',
        'missing bearer token: send `Authorization: Bearer <token>` (the CLI reads CUTOVER_TOKEN)',
        401,
      );
    }
    const hash = hashToken(m[1]!);
    const given = Buffer.from(hash, 'hex');
    // Compared in constant time against every admin token, so the answer's timing says nothing.
    let admin = false;
    for (const h of this.adminHashes) admin = timingSafeEqual(given, h) || admin;
    if (admin) return { name: 'admin', role: 'admin', tokenId: null };
    const record = await this.store.findTokenByHash(hash);
    if (record !== null && record.revokedAt === null) return { name: record.name, role: record.role, tokenId: record.id };
    throw new CutoverError(
      'CUTOVER_E_UNAUTHORIZED',
      'unknown or revoked token: check CUTOVER_TOKEN, or ask an admin for a token (`cutover token create --role viewer`)',
      401,
    );
  }

  static allows(caller: Caller, role: Role): boolean {
    return RANK[caller.role] >= RANK[role];
  }

  static require(caller: Caller, role: Role): void {
    if (!Authenticator.allows(caller, role)) {
      throw new CutoverError(
        'CUTOVER_E_FORBIDDEN',
        `this needs the ${role} role; your token "${caller.name}" has ${caller.role}; ask an admin for one that has`,
        403,
      );
    }
  }
}
