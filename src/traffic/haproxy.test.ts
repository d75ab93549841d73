import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStat, serverName } from './haproxy.ts';

// The header and a row as Debian's HAProxy 2.6 prints them (`show stat web 4 -1`), cut after check_desc.
const HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,';
const row = (name: string, econ: number, eresp: number, r5xx: number, reqTot: number, ttime: number) =>
  `web,${name},0,0,0,1,,22,835,1255,,0,,${econ},${eresp},7,0,no check,1,1,0,,,1,,,1,3,1,,10,,2,10,,10,,,,0,5,0,0,${r5xx},0,,,,${reqTot},0,0,,,,,1,,,0,1,2,${ttime},,,,a, description with, commas,`;

test('show stat rows of the cutover servers are counted per slot, failed connections and responses as failed requests', () => {
  const blue = serverName('blue', '127.0.0.1:3001');
  const green = serverName('green', '127.0.0.1:3002');
  const text = [HEADER, row(blue, 2, 3, 5, 10, 4), row(green, 0, 0, 0, 40, 9), row('static1', 0, 0, 9, 9, 1), 'other,x,', ''].join('\n');
  assert.deepEqual(parseStat(text, 'web'), {
    blue: { [blue]: { requests: 15, errors: 10, recentMeanMs: 4 } },
    green: { [green]: { requests: 40, errors: 0, recentMeanMs: 9 } },
  });
});

test('an answer without the stat header is refused with what HAProxy said', () => {
  assert.throws(() => parseStat("Can't find backend.\n", 'nope'), /show stat nope" answered Can't find backend/);
});
