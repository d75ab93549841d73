// The defaults of cutover.yaml as a user would write them, and the few names every part of the schema shares.
/** Defaults, as a user would write them. */
export const DEFAULTS = {
  apiListen: '127.0.0.1:9900',
  stateDir: '.cutover',
  workers: 1,
  drain: '30s',
  timeouts: { connect: '5s', headers: '10s', idle: '60s', response: '60s', upstreamIdle: '4s', body: '30s' },
  limits: { maxHeaderBytes: 16384, maxHeaders: 100, maxConnections: 0 },
  via: false,
  health: { path: '/', interval: '1s', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 2 },
  approval: 'auto',
  onTimeout: 'abort',
  shift: 'instant',
  shiftHold: '30s',
  // 100 ms ticks over a 1 s lookback, two failed ticks in a row: a version that answers 500 is rolled
  // back about 0.2 s after it goes live, one that answers slowly about 0.2 s after its requests pass
  // the rule's max (README, "Analysis timing"). minSamples keeps a trickle of traffic from deciding.
  analysis: {
    interval: '100ms',
    window: '5m',
    rules: [{ metric: 'error_rate', max: 0.01 }],
    minSamples: 20,
    failureLimit: 2,
    inconclusive: 'hold',
    // While the old slot waits on standby after promotion, analysis goes on at one tick a second.
    watchStandby: true,
    watchInterval: '1s',
    // Off unless asked: a retry sends a request twice, which only the operator can say is safe beyond GET/HEAD/OPTIONS.
    retryOnStandby: false,
    retryBudget: 100,
  },
  // A service whose file has no analysis section did not ask for a 5-minute watch that can hold: it
  // gets a short one over the router's error rate that rolls back on evidence of failure and goes on
  // (with a warning in the events) when there is too little traffic to judge.
  analysisWithoutSection: { window: '30s', inconclusive: 'pass' },
  standby: '30m',
  previewHeader: 'x-cutover-preview',
  stickyCookie: 'cutover-slot',
  stickyAttributes: 'Path=/; HttpOnly; SameSite=Lax',
  replicas: 1,
  stopGrace: '10s',
  kubernetesNamespace: 'default',
  kubernetesRolloutTimeout: '5m',
  httpGateTimeout: '1m',
  httpGateMethod: 'GET',
  commandGateTimeout: '5m',
  loadGateConnections: 10,
  loadGateMaxErrorRate: 0.01,
  mirrorMaxErrorRateDelta: 0.01,
  store: 'sqlite',
  fleet: { router: true, ackTimeout: '5s', onLaggingRouters: 'fail' },
  supervisorGrace: '60s',
} as const;

/** Where the embedded router listens when an external balancer has the users and `listen` is left out: a free loopback port. */
export const INTERNAL_LISTEN = '127.0.0.1:0';

/** What to write when there is no service yet. */
export const NO_SERVICES =
  'describe at least one service, like services: { web: { listen: 127.0.0.1:8080, provider: { command: node app.js } } }';

export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Compile-time proof, beside each schema, that it produces exactly the shape the rest of cutover reads. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * The sticky cookie's attributes when the config names none: Secure where the service is served over
 * TLS (a listener is TLS for all its services or none), so a browser never sends it over plain HTTP;
 * not on plain HTTP, where a browser would not keep a Secure cookie.
 */
export function stickyAttributes(tls: boolean): string {
  return tls ? `${DEFAULTS.stickyAttributes}; Secure` : DEFAULTS.stickyAttributes;
}
