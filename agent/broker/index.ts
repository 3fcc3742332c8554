/** The embedded MQTT broker (Aedes): auth, topic ACLs, the raw-publish hook, TCP and WebSocket transports. */
export { createBroker, packetLimit, type BrokerDeps, type EmbeddedBroker, type RawPublish } from './broker.js';
export { hashPassword, verifyPassword, verifyPasswordAsync, parseHash, type ParsedHash } from './passwords.js';
export { filterCovers, topicAllowed, topicProblem } from './acl.js';
export { AUTH_DEFAULTS, type AuthLimits } from './auth-gate.js';
export { isLoopbackHost } from './users.js';
