import { z } from 'zod';

/**
 * The teams file's top-level `haproxy:` section: how the production proxy
 * listens (bind address and port, TLS termination with its certificate, the
 * HTTP→HTTPS redirect), where its Runtime API socket and server-state file
 * are, the agent listener offset and the host domain. Every value ends up in
 * haproxy.cfg, so each is held to a pattern that cannot carry a space, a
 * newline or a `#`: nothing here can add a directive.
 */
const IPV4_PATTERN = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const ABSOLUTE_PATH_PATTERN = /^\/[A-Za-z0-9_./-]{1,200}$/;
const SOCKET_PATTERN = /^(\/[A-Za-z0-9_./-]{1,200}|(\d{1,3}\.){3}\d{1,3}:\d{1,5})$/;
/** A team name's shape (teams-file.ts checks it names a team; importing it here would be circular). */
const TEAM_PATTERN = /^[a-z][a-z0-9_-]{0,39}$/;
const DOMAIN_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const port = z.number().int().min(1).max(65535);

const tlsSchema = z
  .object({
    https_port: port.default(443),
    /** PEM with the certificate chain and its private key, as `bind ... ssl crt` reads it. */
    certificate: z.string().regex(ABSOLUTE_PATH_PATTERN, 'expected an absolute path to a PEM file (certificate + key), e.g. /etc/haproxy/certs/jenkins.pem'),
    redirect_http: z.boolean().default(true),
  })
  .strict();

export const haproxySettingsSchema = z
  .object({
    bind_address: z.string().regex(IPV4_PATTERN, 'expected an IPv4 address such as 0.0.0.0 or 10.0.0.5').default('0.0.0.0'),
    http_port: port.default(80),
    tls: tlsSchema.optional(),
    stats_socket: z.string().regex(SOCKET_PATTERN, 'expected an absolute unix socket path or ipv4:port').default('/run/haproxy/admin.sock'),
    server_state_file: z.string().regex(ABSOLUTE_PATH_PATTERN, 'expected an absolute path').default('/var/lib/haproxy/server-state'),
    /** HAProxy's TCP listener for a team's inbound agents is its agent_port + this; null: no agent listener. */
    agent_port_offset: z.number().int().min(1).max(60000).nullable().default(1000),
    host_domain: z.string().regex(DOMAIN_PATTERN, 'expected a DNS name such as jenkins.example.com').optional(),
    default_team: z.string().regex(TEAM_PATTERN, 'expected a team name').optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.tls && s.tls.https_port === s.http_port) ctx.addIssue({ code: 'custom', path: ['tls', 'https_port'], message: 'must differ from http_port' });
  });

export type HaproxySettings = z.output<typeof haproxySettingsSchema>;

export const DEFAULT_HAPROXY_SETTINGS: HaproxySettings = haproxySettingsSchema.parse({});
