// The daemon `cutover up` runs: the store, a runtime per service (router + health), and the API.
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/types.ts';
import { notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { ApiServer } from '../api/server.ts';
import { Authenticator, daemonAdminToken } from '../api/auth.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/types.ts';
import { ServiceRuntime } from './service.ts';

export class Daemon {
  readonly config: Config;
  private readonly log: Logger;
  private store: Store | null = null;
  private readonly runtimes = new Map<string, ServiceRuntime>();
  private api: ApiServer | null = null;
  apiAddress = '';
  adminTokenFile: string | null = null;

  constructor(config: Config, log: Logger) {
    this.config = config;
    this.log = log;
  }

  async start(): Promise<void> {
    mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
    this.store = SqliteStore.open(this.config.stateDir);
    const admin = daemonAdminToken(this.config.stateDir);
    this.adminTokenFile = admin.file;
    try {
      for (const [name, cfg] of Object.entries(this.config.services)) {
        const rt = new ServiceRuntime(cfg, this.store, this.log);
        this.runtimes.set(name, rt);
        await rt.start();
      }
      this.api = new ApiServer(this, new Authenticator(admin.token), this.log);
      const a = await this.api.listen(this.config.api.listen);
      this.apiAddress = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    } catch (err) {
      await this.close(0);
      throw err;
    }
  }

  services(): ServiceRuntime[] {
    return [...this.runtimes.values()];
  }

  service(name: string): ServiceRuntime {
    const rt = this.runtimes.get(name);
    if (!rt) throw notFound(`no service "${name}"; services: ${[...this.runtimes.keys()].join(', ') || '(none)'}`);
    return rt;
  }

  async close(grace: number): Promise<void> {
    await this.api?.close();
    await Promise.all([...this.runtimes.values()].map((rt) => rt.close(grace)));
    await this.store?.close();
  }
}
