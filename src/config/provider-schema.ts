// The schema of a service's provider: process (the default), static, kubernetes.
import path from 'node:path';
import { z } from 'zod';
import { address, duration, nonEmpty, positiveInt } from './fields.ts';
import type { KubernetesProvider, ProcessProvider, ProviderKind, StaticProvider } from './types.ts';
import { DEFAULTS, DNS_LABEL, ENV_NAME, type Same } from './defaults.ts';

export const processCommand = z
  .union(
    [
      nonEmpty('a command, like node app.js'),
      z
        .array(nonEmpty('a program or argument'))
        .min(1, { error: 'the command list is empty; write the program and its arguments, like [node, app.js]' }),
    ],
    {
      error: (iss) =>
        iss.input === undefined ? undefined : 'expected a command: a string like node app.js, or a list like [node, app.js]',
    },
  )
  .transform((c) => (typeof c === 'string' ? c.trim().split(/\s+/) : c))
  .describe(
    'The program and its arguments, a string or a list; {version} is replaced; PORT, CUTOVER_SLOT, CUTOVER_VERSION, CUTOVER_SERVICE are set.',
  );

export function processProvider(dir: string) {
  return z.strictObject({
    kind: z
      .literal('process')
      .default('process')
      .describe('process (the default): cutover starts and supervises the slots on this machine.'),
    command: processCommand,
    replicas: positiveInt(1000).default(DEFAULTS.replicas).describe('Processes per slot, each on its own free port (default 1).'),
    previewReplicas: positiveInt(1000)
      .optional()
      .describe(
        'Processes a new slot starts with while its gates and preview run, at most replicas; it is scaled up to replicas, all healthy, before traffic moves (default: replicas).',
      ),
    cwd: nonEmpty('a folder')
      .default('.')
      .transform((p) => path.resolve(dir, p))
      .meta({
        description: "The folder replicas start in; relative to this file, and this file's folder by default. {version} is replaced.",
      }),
    env: z
      .record(
        z.string().regex(ENV_NAME, {
          error: (iss) => `${JSON.stringify(iss.input)} is not a valid environment variable name; use letters, digits and _`,
        }),
        z
          .union([z.string(), z.number(), z.boolean()], { error: 'expected a string (numbers and true/false are turned into strings)' })
          .transform(String),
      )
      .default({})
      .describe("Environment variables added to cutover's own for every replica; {version} is replaced (default: none)."),
    stopGrace: duration()
      .prefault(DEFAULTS.stopGrace)
      .describe('How long a stopped replica has after SIGTERM before it is killed (default 10s).'),
  });
}
true satisfies Same<z.output<ReturnType<typeof processProvider>>, ProcessProvider>;

export const staticProvider = z
  .strictObject({
    kind: z.literal('static').describe('static: addresses you run and manage; cutover only moves traffic between them.'),
    blue: z
      .array(address)
      .min(1, { error: 'blue needs at least one address, like [127.0.0.1:3001]' })
      .describe('The blue slot’s targets, host:port; blue is live at the first release.'),
    green: z.array(address).default([]).describe('The green slot’s targets, host:port (default: none yet).'),
    // Named so that it is refused with a reason instead of as an unknown key: it was accepted once
    // and never run. A key either works or validate refuses it.
    hooks: z.unknown().optional().meta({ description: 'Not supported: refused by validate.' }),
  })
  .superRefine((p, ctx) => {
    if (p.hooks !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          'provider.hooks is not run by cutover: the static provider only knows your addresses, you start and stop what runs there; remove provider.hooks',
        path: ['hooks'],
        input: p.hooks,
      });
    }
  })
  .transform(({ hooks: _, ...p }): StaticProvider => p);
true satisfies Same<z.output<typeof staticProvider>, StaticProvider>;

/**
 * The provider kinds this build can run. A kind whose provider is not built yet is refused by
 * `cutover validate` rather than by `up` later; a provider adds its kind here in the change that
 * builds it.
 */
export const PROVIDERS_AVAILABLE: ReadonlySet<ProviderKind> = new Set<ProviderKind>(['process', 'static', 'kubernetes']);

export function kubernetesProvider(dir: string) {
  return z.strictObject({
    kind: z.literal('kubernetes').describe('kubernetes: each slot runs as a Deployment in a cluster.'),
    namespace: z
      .string()
      .regex(DNS_LABEL, { error: 'expected a Kubernetes namespace: lowercase letters, digits and -' })
      .default(DEFAULTS.kubernetesNamespace)
      .describe('The namespace of the Deployments (default default).'),
    name: z
      .string()
      .regex(DNS_LABEL, { error: 'expected a name for the app label and the Deployments: lowercase letters, digits and -' })
      .optional()
      .meta({ description: 'The app label; the slots run as the Deployments <name>-blue and <name>-green (default: the service name).' }),
    image: nonEmpty('a container image, like registry.example/web:{version}')
      .refine((i) => i.includes('{version}'), {
        error: 'the image must contain {version}, like registry.example/web:{version}, so each release runs its own version',
      })
      .meta({ description: 'The container image; {version} is replaced by the release version.' }),
    port: z.int().min(1).max(65535).meta({ description: 'The port the container listens on (PORT is set to it).' }),
    replicas: positiveInt(1000).default(DEFAULTS.replicas).describe('Pods per slot (default 1).'),
    previewReplicas: positiveInt(1000)
      .optional()
      .describe(
        "Pods a new slot's Deployment starts with while its gates and preview run, at most replicas; it is scaled up to replicas, all ready, before traffic moves (default: replicas).",
      ),
    env: z
      .record(
        z.string().regex(ENV_NAME, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid environment variable name` }),
        z.union([z.string(), z.number(), z.boolean()]).transform(String),
      )
      .default({})
      .describe('Environment variables of the container, besides PORT and CUTOVER_*; {version} is replaced (default: none).'),
    rolloutTimeout: duration(1)
      .prefault(DEFAULTS.kubernetesRolloutTimeout)
      .meta({ description: 'How long a slot may take until every replica is ready (default 5m).' }),
    kubeconfig: nonEmpty('a kubeconfig file')
      .transform((p) => path.resolve(dir, p))
      .optional()
      .meta({ description: 'The kubeconfig file (default: the pod service account in a cluster, else $KUBECONFIG or ~/.kube/config).' }),
    context: nonEmpty('a kubeconfig context').optional().describe("The kubeconfig's context to use (default: its current-context)."),
  });
}
true satisfies Same<z.output<ReturnType<typeof kubernetesProvider>>, KubernetesProvider>;
