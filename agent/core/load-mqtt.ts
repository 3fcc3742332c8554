/**
 * mqtt.js, loaded on first use: only forwarders and the mqtt-source driver open client connections,
 * and the embedded default has neither, so it does not pay for the module (≈ 6 MB resident with its
 * dependencies). The promise is shared; a failed import is retried at the next call.
 */
import { loadOnce } from '../../algorithms/common/load-once.js';

export type MqttModule = typeof import('mqtt');

export const loadMqtt: () => Promise<MqttModule> = loadOnce(() => import('mqtt'));
