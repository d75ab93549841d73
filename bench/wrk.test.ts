import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrk } from './wrk.ts';

const report = `Running 4s test @ http://127.0.0.1:40001/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   494.06us  312.11us  12.91ms   96.81%
    Req/Sec    99.17k     3.60k  103.38k    82.50%
  Latency Distribution
     50%  472.00us
     75%  512.00us
     90%  568.00us
     99%    1.05ms
  394833 requests in 4.00s, 63.26MB read
  Socket errors: connect 0, read 108, write 2, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  98708.25
Transfer/sec:     15.82MB
`;

test('a wrk report gives throughput, percentiles in milliseconds and every failure counted once', () => {
  const r = parseWrk(report);
  assert.equal(r.requests, 394833);
  assert.equal(r.seconds, 4);
  assert.equal(r.rps, 98708.25);
  assert.equal(r.p50Ms, 0.472);
  assert.equal(r.p99Ms, 1.05);
  assert.deepEqual(r.socketErrors, { connect: 0, read: 108, write: 2, timeout: 1 });
  assert.equal(r.non2xx3xx, 7);
  assert.equal(r.failed, 118);
});

test('a clean wrk report has no failures', () => {
  const clean = report.replace(/ {2}Socket errors.*\n/, '').replace(/ {2}Non-2xx.*\n/, '');
  assert.equal(parseWrk(clean).failed, 0);
});

test('a report without a latency distribution is refused with wrk output attached', () => {
  assert.throws(() => parseWrk(report.replace(/ {5}99%.*\n/, '')), /no 99% latency/);
});
