/** `gridedge modbus read`: one Modbus read for a technician, raw and decoded (drivers/modbus/probe.ts). */
import { runProbe, type Command } from '../command.js';
import { parseProbe, probe, renderProbe } from '../../../drivers/modbus/probe.js';

export const modbusReadCommand: Command = {
  name: 'modbus read',
  summary: 'Read registers or bits from a Modbus TCP or RTU device once, and decode them',
  options: {
    tcp: { type: 'string', valueName: 'HOST:PORT', description: 'Modbus TCP server (port 502 when omitted)' },
    rtu: { type: 'string', valueName: 'DEVICE', description: 'Serial device of a Modbus RTU line, e.g. /dev/ttyUSB0' },
    baud: { type: 'string', valueName: 'N', description: 'RTU baud rate (default 9600)' },
    parity: { type: 'string', valueName: 'none|even|odd', description: 'RTU parity (default none)' },
    'stop-bits': { type: 'string', valueName: '1|2', description: 'RTU stop bits (default 1)' },
    unit: { type: 'string', valueName: 'N', description: 'Unit (slave) id (default 1)' },
    function: { type: 'string', valueName: 'holding|input|coil|discrete', description: 'What to read (default holding)' },
    address: { type: 'string', valueName: 'N', required: true, description: 'Zero-based address, decimal or 0x hex (register 30001 is input address 0)' },
    count: { type: 'string', valueName: 'N', description: 'Registers or bits to read (default: one value)' },
    type: { type: 'string', valueName: 'u16|i16|u32|i32|f32|f64', description: 'Decode the registers as this type (default: each register as u16)' },
    order: { type: 'string', valueName: 'ABCD|CDAB|BADC|DCBA', description: 'Byte order of the value as the device sends it (default ABCD)' },
    timeout: {
      type: 'string',
      valueName: 'DURATION',
      duration: { bare: 'ms', minMs: 10, maxMs: 60_000 },
      description: 'Wait this long for the answer (default 1s)',
    },
    json: { type: 'boolean', description: 'Print JSON instead of text' },
  },
  positionals: [],
  details: [
    'Exit codes: 0 read, 1 bad option or the device refused the request (Modbus exception), 2 the device cannot be reached or does not answer.',
    'Examples:',
    '  gridedge modbus read --tcp 10.0.0.5:502 --unit 1 --function input --address 0 --count 6 --type f32',
    '  gridedge modbus read --rtu /dev/ttyUSB0 --baud 9600 --unit 3 --function holding --address 0x28 --type i32 --order CDAB',
  ].join('\n'),
  async run({ values }, io) {
    return runProbe('modbus read', parseProbe(values), probe, renderProbe, values['json'] === true, io);
  },
};
