/**
 * `fake-echo`: a service used only by the tests. It counts its starts, answers
 * GET /api/v1/echo/<word> with { id, word, started } (503 until started), and on POST /api/v1/echo
 * publishes the body's `value` through the data path on bal/processed/echo/<id>.
 */
import type { FastifyInstance } from 'fastify';
import * as f from '../../../agent/config/formats.js';
import type { PluginHealth, Service, ServiceContext, ServiceSpec } from '../../../agent/core/plugin.js';

export interface FakeEchoConfig {
  id: string;
  greeting: string;
}

export const fakeEchoService: ServiceSpec<FakeEchoConfig> = {
  type: 'fake-echo',
  doc: 'Test service: echoes words over REST and publishes posted values',
  metrics: { echo_starts: { type: 'counter', help: 'Starts of the fake-echo service', labels: ['service'] } },
  schema: { greeting: { doc: 'Prefix of each echo', format: f.nonEmptyString, default: 'echo' } },
  create(cfg): Service {
    let ctx: ServiceContext | null = null;
    let starts = 0;
    return {
      async start(c) {
        ctx = c;
        starts++;
        c.counters.inc('echo_starts', { service: cfg.id });
      },
      async stop() {
        ctx = null;
      },
      health: (): PluginHealth => ({ state: ctx ? 'running' : 'stopped', info: { starts } }),
      async routes(app: FastifyInstance) {
        app.get<{ Params: { word: string } }>('/echo/:word', async (req, reply) => {
          if (!ctx) return reply.code(503).send({ error: 'not started' });
          return { id: cfg.id, word: `${cfg.greeting} ${req.params.word}`, started: starts };
        });
        app.post<{ Body: { value?: unknown } }>('/echo', async (req, reply) => {
          if (!ctx) return reply.code(503).send({ error: 'not started' });
          await ctx.publish({ topic: `bal/processed/echo/${cfg.id}`, message: { value: req.body?.value ?? null } });
          return reply.code(202).send({ ok: true });
        });
      },
    };
  },
};
