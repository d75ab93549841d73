// Certificates of a TLS listener, chosen per handshake by SNI. Each source is a certificate and key
// (PEM files on disk, or what ACME issued) for some host patterns; a SecureContext is built once per
// change, never per handshake. Files are watched and reloaded when they change: new handshakes get the
// new certificate, established connections keep theirs. A pair that does not load (a half-written
// file, a key that does not match) keeps the previous one and is reported. A service that leaves a
// shared listener takes its certificates with it (the remover addFiles returns, removeSource).
import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../log.ts';
import { hostCovers, normaliseHost } from './match.ts';

/** TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate"); TLS 1.3's are all good. */
export const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TLS_DEFAULTS = { minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, honorCipherOrder: true } as const;

/** How often files are checked as well as watched (a watch can miss a change on some filesystems). */
export const CERT_POLL_MS = 5000;
/** Changes within this window are read once (a cert and key are rarely written at the same instant). */
const SETTLE_MS = 150;

export interface CertInfo {
  hosts: readonly string[];
  source: string;
  subject: string;
  notAfter: string;
  loadedAt: string;
  error: string | null;
}

interface Entry {
  hosts: readonly string[];
  source: string;
  context: tls.SecureContext | null;
  cert: X509Certificate | null;
  pem: { cert: string | Buffer; key: string | Buffer } | null;
  loadedAt: number;
  error: string | null;
}

/** A SecureContext from PEM text, with the modern defaults. Throws when the pair does not load. */
export function secureContext(cert: string | Buffer, key: string | Buffer): tls.SecureContext {
  return tls.createSecureContext({ cert, key, ...TLS_DEFAULTS });
}

export class CertStore {
  private readonly log: Logger;
  private readonly entries: Entry[] = [];
  private exact = new Map<string, Entry>();
  private wildcard = new Map<string, Entry>();
  private fallback: Entry | null = null;
  private readonly files = new Map<string, { mtime: number; size: number; loads: Set<() => void>; watcher: FSWatcher | null }>();
  private poll: NodeJS.Timeout | null = null;
  private settle: NodeJS.Timeout | null = null;
  private readonly dirty = new Set<() => void>();
  /** Told after any certificate changed (the listener resets its default context for clients without SNI). */
  onChange: (() => void) | null = null;

  constructor(log: Logger) {
    this.log = log;
  }

  /**
   * A certificate and key on disk for `hosts` (empty: the default for names nothing else covers).
   * `pending`: the files are expected to appear later (written by ACME elsewhere); until they do,
   * that is what status says and nothing is logged as an error. Returns what removes this pair
   * again (its hosts no longer get it; its files are no longer watched unless another pair uses them).
   */
  addFiles(hosts: readonly string[], certificate: string, key: string, pending?: string): () => void {
    const entry: Entry = { hosts, source: certificate, context: null, cert: null, pem: null, loadedAt: 0, error: null };
    this.entries.push(entry);
    const load = (): void => {
      try {
        const certPem = readFileSync(certificate);
        const keyPem = readFileSync(key);
        this.install(entry, certPem, keyPem);
      } catch (err) {
        if (pending !== undefined && entry.context === null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          entry.error = pending;
          return;
        }
        entry.error = `cannot load ${certificate} with ${key}: ${(err as Error).message}`;
        this.log.error('certificate not loaded; the previous one (if any) is still served', {
          certificate,
          key,
          err: (err as Error).message,
        });
      }
    };
    load();
    for (const file of [certificate, key]) this.watchFile(file, load);
    this.index();
    return () => {
      for (const file of [certificate, key]) this.unwatchFile(file, load);
      this.drop(entry);
    };
  }

  /** Removes the certificates held in memory under `source` (setPem). */
  removeSource(source: string): void {
    for (const e of this.entries.filter((x) => x.source === source)) this.drop(e);
  }

  private drop(entry: Entry): void {
    const i = this.entries.indexOf(entry);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.index();
  }

  /** A certificate held in memory (issued by ACME); `set` again to replace it. */
  setPem(hosts: readonly string[], source: string, cert: string, key: string): void {
    let entry = this.entries.find((e) => e.source === source);
    if (entry === undefined) {
      entry = { hosts, source, context: null, cert: null, pem: null, loadedAt: 0, error: null };
      this.entries.push(entry);
    }
    this.install(entry, cert, key);
    this.index();
  }

  /** Whether some certificate (loaded or not) is configured for this source. */
  has(source: string): boolean {
    return this.entries.some((e) => e.source === source && e.context !== null);
  }

  private install(entry: Entry, cert: string | Buffer, key: string | Buffer): void {
    const context = secureContext(cert, key);
    const x509 = new X509Certificate(cert);
    for (const h of entry.hosts) {
      const name = h.startsWith('*.') ? `x${h.slice(1)}` : h;
      if (x509.checkHost(name, { wildcards: true }) === undefined)
        this.log.warn('certificate does not cover a host it serves; clients will refuse it', { source: entry.source, host: h });
    }
    entry.context = context;
    entry.cert = x509;
    entry.pem = { cert, key };
    entry.loadedAt = Date.now();
    entry.error = null;
    this.log.info('certificate loaded', { source: entry.source, subject: x509.subject, notAfter: x509.validTo });
  }

  private index(): void {
    const exact = new Map<string, Entry>();
    const wildcard = new Map<string, Entry>();
    let fallback: Entry | null = null;
    for (const e of this.entries) {
      if (e.hosts.length === 0 && fallback === null) fallback = e;
      for (const h of e.hosts) {
        const lower = h.toLowerCase();
        if (lower.startsWith('*.')) {
          if (!wildcard.has(lower.slice(2))) wildcard.set(lower.slice(2), e);
        } else if (!exact.has(lower)) exact.set(lower, e);
      }
    }
    this.exact = exact;
    this.wildcard = wildcard;
    this.fallback = fallback ?? this.entries[0] ?? null;
    this.onChange?.();
  }

  /** Options for the server's own context: what a client that sends no SNI gets. */
  defaultOptions(): tls.SecureContextOptions | null {
    const e = this.fallback?.pem ? this.fallback : this.entries.find((x) => x.pem !== null);
    return e?.pem ? { ...e.pem, ...TLS_DEFAULTS } : null;
  }

  /** The context for a server name: exact host, then wildcard, then the default. */
  contextFor(servername: string | undefined): tls.SecureContext | null {
    const name = normaliseHost(servername ?? '');
    if (name !== '') {
      const e = this.exact.get(name);
      if (e?.context) return e.context;
      const dot = name.indexOf('.');
      const w = dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
      if (w?.context) return w.context;
    }
    if (this.fallback?.context) return this.fallback.context;
    for (const e of this.entries) if (e.context !== null) return e.context;
    return null;
  }

  /** For tls.createServer's SNICallback. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    const ctx = this.contextFor(servername);
    if (ctx === null) cb(new Error(`no certificate for ${servername}`));
    else cb(null, ctx);
  };

  /** Names this store has a loaded certificate for, with its expiry (ms since epoch). */
  expiry(host: string): number | null {
    for (const e of this.entries) if (e.cert !== null && e.hosts.some((h) => hostCovers(h, host))) return Date.parse(e.cert.validTo);
    return null;
  }

  info(): CertInfo[] {
    return this.entries.map((e) => ({
      hosts: e.hosts,
      source: e.source,
      subject: e.cert?.subject ?? '',
      notAfter: e.cert ? new Date(e.cert.validTo).toISOString() : '',
      loadedAt: e.loadedAt ? new Date(e.loadedAt).toISOString() : '',
      error: e.error,
    }));
  }

  private watchFile(file: string, load: () => void): void {
    const abs = path.resolve(file);
    const known = this.files.get(abs);
    if (known !== undefined) {
      known.loads.add(load);
      return;
    }
    const f: { mtime: number; size: number; loads: Set<() => void>; watcher: FSWatcher | null } = {
      ...stat(abs),
      loads: new Set([load]),
      watcher: null,
    };
    this.files.set(abs, f);
    // The folder, not the file: tools replace certificates by renaming a new file over the old one.
    try {
      f.watcher = watch(path.dirname(abs), { persistent: false }, (_event, name) => {
        if (name === null || name.toString() === path.basename(abs)) this.changed(abs);
      });
      f.watcher.on('error', () => {});
    } catch {
      // No watch here: the poll below still notices.
    }
    if (this.poll === null) {
      this.poll = setInterval(() => {
        for (const [f, s] of this.files) {
          const now = stat(f);
          if (now.mtime !== s.mtime || now.size !== s.size) this.changed(f);
        }
      }, CERT_POLL_MS);
      this.poll.unref();
    }
  }

  /** `load` no longer wants `file`; the last one to let go stops watching it. */
  private unwatchFile(file: string, load: () => void): void {
    const abs = path.resolve(file);
    const f = this.files.get(abs);
    if (f === undefined) return;
    f.loads.delete(load);
    this.dirty.delete(load);
    if (f.loads.size > 0) return;
    f.watcher?.close();
    this.files.delete(abs);
    if (this.files.size === 0 && this.poll !== null) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  /** Files watched now (for tests: a pair removed stops being watched). */
  watchedFiles(): string[] {
    return [...this.files.keys()];
  }

  private changed(abs: string): void {
    const f = this.files.get(abs);
    if (f === undefined) return;
    const now = stat(abs);
    f.mtime = now.mtime;
    f.size = now.size;
    for (const load of f.loads) this.dirty.add(load);
    if (this.settle !== null) return;
    this.settle = setTimeout(() => {
      this.settle = null;
      const loads = [...this.dirty];
      this.dirty.clear();
      for (const load of loads) load();
      this.index();
    }, SETTLE_MS);
    this.settle.unref();
  }

  /** Loads every file again now, not waiting for the watch or the poll (told a file was replaced). */
  reload(): void {
    for (const [abs, f] of this.files) {
      // Seen now, so the poll does not load the same files once more.
      Object.assign(f, stat(abs));
      for (const load of f.loads) this.dirty.add(load);
    }
    const loads = [...this.dirty];
    this.dirty.clear();
    for (const load of loads) load();
    this.index();
  }

  close(): void {
    for (const f of this.files.values()) {
      f.watcher?.close();
      f.watcher = null;
    }
    if (this.poll !== null) clearInterval(this.poll);
    if (this.settle !== null) clearTimeout(this.settle);
    this.poll = null;
    this.settle = null;
  }
}

function stat(file: string): { mtime: number; size: number } {
  try {
    const s = statSync(file);
    return { mtime: s.mtimeMs, size: s.size };
  } catch {
    return { mtime: 0, size: -1 };
  }
}
