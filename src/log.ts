// Structured logger: one JSON object a line, or a short readable line when stderr is a terminal.
// The router's request path never logs unless asked (LOG_LEVEL=debug).

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  readonly enabled: (level: Level) => boolean;
}

export interface LoggerOptions {
  level?: Level;
  format?: 'json' | 'pretty';
  write?: (line: string) => void;
}

function envLevel(): Level {
  const v = process.env.CUTOVER_LOG_LEVEL ?? process.env.LOG_LEVEL;
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : 'info';
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message, name: value.name };
    if ('code' in value) out.code = (value as { code: unknown }).code;
    return out;
  }
  return value;
}

export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = order[opts.level ?? envLevel()];
  const format = opts.format ?? (process.env.CUTOVER_LOG_FORMAT === 'json' || !process.stderr.isTTY ? 'json' : 'pretty');
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (order[level] < min) return;
    const all: Record<string, unknown> = { ...base, ...fields };
    if (format === 'json') {
      const rec: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
      for (const [k, v] of Object.entries(all)) rec[k] = serialise(v);
      write(JSON.stringify(rec));
    } else {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(serialise(v))}`)
        .join(' ');
      write(`${new Date().toISOString().slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? ` ${extra}` : ''}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...opts, level: opts.level ?? envLevel(), format, write }, { ...base, ...fields }),
    enabled: (level) => order[level] >= min,
  };
}
