// A service's config as the options of its embedded router: what the daemon's runtimes and a fleet
// router (`cutover router`) both start their routers with.
import type { ServiceConfig } from '../config/types.ts';
import { DEFAULT_MAINTENANCE } from '../router/pages.ts';
import type { RouterOptions } from '../router/router.ts';

/** Idle upstream connections kept per target: enough for a busy keep-alive client pool. */
const MAX_IDLE_PER_TARGET = 256;
const DEFAULT_PREVIEW_COOKIE = 'cutover-preview';

export function routerOptions(cfg: ServiceConfig): RouterOptions {
  // A buffered body is held in memory whole: buffer.maxMemory bounds it (validate refuses a larger maxRequestBody).
  const maxRequestBody = cfg.buffer.requests
    ? Math.min(cfg.limits.maxRequestBody ?? Infinity, cfg.buffer.maxMemory)
    : cfg.limits.maxRequestBody;
  return {
    service: cfg.name,
    listen: cfg.listen,
    reusePort: cfg.workers > 1,
    drain: cfg.drain,
    maxHeaderBytes: cfg.limits.maxHeaderBytes,
    maxHeaders: cfg.limits.maxHeaders,
    headersTimeout: cfg.timeouts.headers,
    idleTimeout: cfg.timeouts.idle,
    responseTimeout: cfg.timeouts.response,
    connectTimeout: cfg.timeouts.connect,
    bodyTimeout: cfg.timeouts.body,
    maxConnections: cfg.limits.maxConnections,
    trustedProxies: cfg.trustedProxies,
    pages: {
      errors: Object.fromEntries(
        Object.entries(cfg.errorPages).map(([status, p]) => [status, { body: p.body, contentType: p.contentType }]),
      ),
      maintenance: {
        body: cfg.maintenance.page?.body ?? DEFAULT_MAINTENANCE.body,
        contentType: cfg.maintenance.page?.contentType ?? DEFAULT_MAINTENANCE.contentType,
        retryAfter: Math.round(cfg.maintenance.retryAfter / 1000),
        message: cfg.maintenance.message ?? DEFAULT_MAINTENANCE.message,
      },
    },
    upstreamIdle: cfg.timeouts.upstreamIdle,
    via: cfg.via,
    maxIdlePerTarget: MAX_IDLE_PER_TARGET,
    previewHeader: cfg.preview.header.toLowerCase(),
    previewCookie: cfg.preview.cookie ?? DEFAULT_PREVIEW_COOKIE,
    stickyCookie: cfg.sticky.cookie,
    stickyAttributes: cfg.sticky.attributes,
    ...(cfg.preview.listen ? { previewListen: cfg.preview.listen } : {}),
    ...(maxRequestBody !== undefined ? { maxRequestBody } : {}),
    ...(cfg.buffer.requests ? { bufferRequests: true } : {}),
    ...(cfg.compression.enabled
      ? { compression: { types: cfg.compression.types, minSize: cfg.compression.minSize, encodings: cfg.compression.encodings } }
      : {}),
  };
}
