/**
 * The forwarders: plugin specs (listed in agent/registry.ts) and the runner that drives each
 * configured forwarder. See README.md.
 */
export { mqttForwarder, type MqttForwarderConfig } from './mqtt/index.js';
export { azureIotForwarder, type AzureIotConfig } from './azure-iot/index.js';
export { ForwarderRunner, type ForwarderRunnerInit } from './runner.js';
export { ForwardError, type ForwardReason } from './errors.js';
