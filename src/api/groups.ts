// API paths of grouped releases (`groups:` in the config, `cutover deploy --group`): the groups, and a
// release of one version for every member of a group, switched and rolled back together.
import type { z } from 'zod';
import type { GroupCommands } from '../controller/group.ts';
import type { ReleaseStatus } from '../controller/view.ts';
import type { ControlPlane } from './control.ts';
import { ReleaseBody } from './schemas.ts';
import { actorOf, type Ctx, type Route } from './routes.ts';

/** What the group paths need of the daemon: its groups, and each member's release status. */
export interface GroupPlane {
  groups(): GroupCommands;
  releases: ControlPlane['releases'];
}

export function groupRoutes(daemon: GroupPlane): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/groups',
      role: 'viewer',
      summary: 'the groups of services that are released together, with their members',
      handler: async () => daemon.groups().list(),
    },
    {
      method: 'POST',
      path: '/api/v1/groups/{group}/releases',
      role: 'deployer',
      summary:
        'release one version to every member of a group: each through its own gates, all switched together, all rolled back when any member fails',
      body: ReleaseBody,
      status: 202,
      handler: async (c: Ctx<z.infer<typeof ReleaseBody>>) => {
        const started = await daemon.groups().deploy(c.params.group!, c.body.version, actorOf(c));
        const releases: (ReleaseStatus & { service: string })[] = await Promise.all(
          started.releases.map(async (r) => ({ service: r.service, ...(await daemon.releases(r.service).statusOf(r)) })),
        );
        return { group: started.group, id: started.id, releases };
      },
    },
  ];
}
