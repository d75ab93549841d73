// The part of autocannon's API the load gate uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Options {
    url: string | string[];
    connections?: number;
    /** Seconds. */
    duration?: number;
    overallRate?: number;
    maxOverallRequests?: number;
    /** Milliseconds between samples; autocannon notices the end of the duration only at a sample. */
    sampleInt?: number;
    /** Seconds to wait for each response. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    ignoreCoordinatedOmission?: boolean;
  }

  interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
    [percentile: string]: number;
  }

  interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
    latency: Histogram;
    requests: Histogram & { sent: number };
  }

  interface Instance extends EventEmitter {
    stop(): void;
  }

  function autocannon(opts: Options, cb: (err: Error | null, result: Result) => void): Instance;
  export default autocannon;
  export type { Options, Result, Instance };
}
