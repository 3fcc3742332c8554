/**
 * A cap on the size of one MQTT packet. mqtt-packet buffers a whole packet before parsing it and
 * MQTT 3.1.1 allows 256 MiB, so without a cap one client could make the broker hold that much per
 * connection. The cap hooks the client's parser right after it reads the fixed header's
 * "remaining length" (mqtt-packet 9 `_parseLength`), before any payload byte is buffered, and ends
 * the connection with a parser error. Internals of the pinned mqtt-packet: test/broker covers it.
 */

interface PacketParser {
  packet: { cmd?: string; length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/** Install the cap on one aedes client's parser. Returns false when the parser is not the expected shape. */
export function capPacketSize(client: unknown, maxBytes: number, onTooLarge: (length: number) => void): boolean {
  const parser = (client as { _parser?: Partial<PacketParser> } | null)?._parser;
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function') return false;
  const p = parser as PacketParser;
  const parseLength = p._parseLength;
  p._parseLength = function cappedParseLength(this: PacketParser): boolean {
    const done = parseLength.call(this);
    if (done && this.packet.length > maxBytes) {
      onTooLarge(this.packet.length);
      this._emitError(new Error(`MQTT packet of ${this.packet.length} bytes exceeds the broker limit of ${maxBytes}`));
      return false;
    }
    return done;
  };
  return true;
}
