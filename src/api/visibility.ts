// What a caller's role may see of a status: the preview token is for deployers and admins; a viewer
// sees how to preview, not the secret.
import type { ReleaseStatus, ServiceStatus } from '../controller/view.ts';
import type { Role } from './auth.ts';

export function forRole<T extends ServiceStatus | ReleaseStatus>(status: T, role: Role): T {
  if (role !== 'viewer') return status;
  const hide = (r: ReleaseStatus): ReleaseStatus =>
    r.preview?.token === undefined
      ? r
      : { ...r, preview: { header: r.preview.header, cookie: r.preview.cookie, listen: r.preview.listen } };
  if ('service' in status) return { ...status, release: status.release === null ? null : hide(status.release) };
  return hide(status) as T;
}
