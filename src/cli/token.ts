// `cutover token create --role R [--name N]`, `token list`, `token revoke <id|name>`: API tokens.
// A new token's secret is printed once; the daemon keeps only its hash.
import { usageError } from '../errors.ts';
import { api } from './client.ts';
import { defineCommand } from './command.ts';

interface Token {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  revokedAt: string | null;
  token?: string;
}

const USAGE =
  'usage: cutover token create --role viewer|deployer|admin [--name NAME] [--json] | token list [--json] | token revoke <id|name>';

export const { run, help } = defineCommand({
  usage: 'token create --role viewer|deployer|admin [--name NAME] [--json] | token list [--json] | token revoke <id|name>',
  summary: "Make, list and revoke API tokens. A new token's secret is printed once (on stdout; the rest on stderr).",
  api: true,
  flags: {
    role: { type: 'string', value: 'ROLE', help: 'create: viewer (read), deployer (releases, switch), admin (everything, tokens too)' },
    name: { type: 'string', value: 'NAME', help: 'create: a name to know the token by (default: made up)' },
    json: { type: 'boolean', help: 'print the token(s) as JSON' },
  },
  async run(values, positionals, ctx) {
    const [sub, ...rest] = positionals;
    switch (sub) {
      case 'create': {
        if (!values.role || rest.length > 0) throw usageError(USAGE);
        const t = await api<Token>('POST', '/tokens', { role: values.role, ...(values.name !== undefined ? { name: values.name } : {}) });
        if (values.json) ctx.stdout.write(`${JSON.stringify(t)}\n`);
        else {
          ctx.stdout.write(`${t.token}\n`);
          ctx.stderr.write(`token ${t.name} (${t.id}, role ${t.role}) created; it is shown only now: keep it, e.g. as CUTOVER_TOKEN\n`);
        }
        return 0;
      }
      case 'list': {
        if (rest.length > 0) throw usageError(USAGE);
        const tokens = await api<Token[]>('GET', '/tokens');
        if (values.json) {
          ctx.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
          return 0;
        }
        if (tokens.length === 0) {
          ctx.stdout.write("no tokens yet (the daemon's admin token is not listed); make one with `cutover token create --role viewer`\n");
          return 0;
        }
        const rows = tokens.map((t) => [
          t.id,
          t.name,
          t.role,
          t.createdAt.replace('T', ' ').slice(0, 19),
          t.revokedAt ? `revoked ${t.revokedAt.replace('T', ' ').slice(0, 19)}` : 'active',
        ]);
        const head = ['id', 'name', 'role', 'created (UTC)', 'state'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [head, ...rows])
          ctx.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
        return 0;
      }
      case 'revoke': {
        const [which] = rest;
        if (!which || rest.length > 1) throw usageError(USAGE);
        const tokens = await api<Token[]>('GET', '/tokens');
        const byName = tokens.filter((t) => t.name === which && t.revokedAt === null);
        if (!tokens.some((t) => t.id === which) && byName.length > 1) {
          throw usageError(`${byName.length} active tokens are named ${which}; revoke one by its id (\`cutover token list\`)`);
        }
        const id = tokens.some((t) => t.id === which) ? which : (byName[0]?.id ?? which);
        const t = await api<Token>('DELETE', `/tokens/${encodeURIComponent(id)}`);
        if (values.json) ctx.stdout.write(`${JSON.stringify(t)}\n`);
        else ctx.stdout.write(`token ${t.name} (${t.id}) revoked; it stopped working at once\n`);
        return 0;
      }
      default:
        throw usageError(USAGE);
    }
  },
});
