/** mqtt.js clients of the TLS listener tests: one that must connect, one that must be refused. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { within } from './raw-client.js';

export function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return within(mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 20_000, ...opts }), 25_000, `mqtt.js connect to ${url}`);
}

/** Connect and expect a failure; resolves with the error (the client is ended). */
export async function refusedConnect(url: string, opts: IClientOptions): Promise<Error & { code?: string | number }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 20_000, ...opts });
  try {
    return await within(
      new Promise<Error>((resolve, reject) => {
        c.once('error', resolve);
        c.once('close', () => resolve(new Error('closed')));
        c.once('connect', () => reject(new Error('connected, but the TLS listener should have refused this client')));
      }),
      25_000,
      `refusal at ${url}`,
    );
  } finally {
    c.end(true);
  }
}

/** Connect, expecting either outcome: the client, or the error's message. */
export async function tryConnect(url: string, opts: IClientOptions): Promise<{ client?: MqttClient; error?: string }> {
  try {
    return { client: await connect(url, opts) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
