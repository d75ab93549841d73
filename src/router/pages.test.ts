import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http1Page, maintenancePage, ownResponse, type PagesConfig } from './pages.ts';

const PAGES: PagesConfig = {
  errors: { 502: { body: '<h1>Bad gateway — sorry</h1>\n', contentType: 'text/html; charset=utf-8' } },
  maintenance: { body: '<p>{{message}}</p>', contentType: 'text/html; charset=utf-8', retryAfter: 60, message: 'Later.' },
};

const split = (s: string): [string, string] => [s.slice(0, s.indexOf('\r\n\r\n') + 4), s.slice(s.indexOf('\r\n\r\n') + 4)];

test("to HEAD the router's own answers are the head a GET gets, Content-Length included, and no body", () => {
  for (const [get, head] of [
    [ownResponse(PAGES, 502, 'bad gateway', false), ownResponse(PAGES, 502, 'bad gateway', false, true)],
    [ownResponse(PAGES, 404, 'no such host', true), ownResponse(PAGES, 404, 'no such host', true, true)],
    [http1Page(maintenancePage(PAGES, 'Back <soon>'), false), http1Page(maintenancePage(PAGES, 'Back <soon>'), false, true)],
  ] as const) {
    const [getHead, getBody] = split(get);
    assert.ok(getBody.length > 0);
    assert.match(getHead, new RegExp(`content-length: ${Buffer.byteLength(Buffer.from(getBody, 'latin1'))}\\r\\n`));
    assert.deepEqual(split(head), [getHead, '']);
  }
});
