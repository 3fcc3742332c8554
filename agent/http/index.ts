/** The HTTP server: status page, status JSON, Prometheus metrics, MQTT over WebSocket. */
export { buildHttp, startHttp } from './app.js';
export type { HttpDeps } from './deps.js';
export { renderMetrics } from './routes/metrics.js';
export { agentStatusSchema } from './schemas.js';
export { problem, problemSchema, PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';
