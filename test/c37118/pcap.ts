/**
 * A pcap file of frames as one TCP stream (or UDP datagrams), for tshark to decode: link type RAW
 * (IPv4 packets without a link layer), one segment per frame, sequence numbers consecutive.
 * Checksums are left 0 (tshark does not verify them by default).
 */

function ipv4(proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = proto;
  Buffer.from([127, 0, 0, 1]).copy(h, 12);
  Buffer.from([127, 0, 0, 1]).copy(h, 16);
  let sum = 0;
  for (let k = 0; k < 20; k += 2) sum += h.readUInt16BE(k);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  h.writeUInt16BE(~sum & 0xffff, 10);
  return Buffer.concat([h, payload]);
}

/** A pcap of `frames` sent from `srcPort` to `dstPort`, over TCP (default) or UDP. */
export function pcapOf(frames: readonly Buffer[], opts: { srcPort: number; dstPort: number; udp?: boolean }): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(101, 20); // LINKTYPE_RAW
  const parts: Buffer[] = [head];
  let seq = 1000;
  frames.forEach((f, k) => {
    let pkt: Buffer;
    if (opts.udp) {
      const u = Buffer.alloc(8);
      u.writeUInt16BE(opts.srcPort, 0);
      u.writeUInt16BE(opts.dstPort, 2);
      u.writeUInt16BE(8 + f.length, 4);
      pkt = ipv4(17, Buffer.concat([u, f]));
    } else {
      const tcp = Buffer.alloc(20);
      tcp.writeUInt16BE(opts.srcPort, 0);
      tcp.writeUInt16BE(opts.dstPort, 2);
      tcp.writeUInt32BE(seq, 4);
      tcp.writeUInt32BE(1, 8);
      tcp[12] = 5 << 4;
      tcp[13] = 0x18; // PSH, ACK
      tcp.writeUInt16BE(65535, 14);
      seq += f.length;
      pkt = ipv4(6, Buffer.concat([tcp, f]));
    }
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_764_000_000 + k, 0);
    rec.writeUInt32LE(pkt.length, 8);
    rec.writeUInt32LE(pkt.length, 12);
    parts.push(rec, pkt);
  });
  return Buffer.concat(parts);
}
