/** `gridedge opcua browse URL [--node NODEID]`: list one node's children on an OPC UA server (drivers/opcua/probe.ts). */
import { runProbe, type Command } from '../command.js';
import { browse, parseBrowse, renderBrowse } from '../../../drivers/opcua/probe.js';

export const opcuaBrowseCommand: Command = {
  name: 'opcua browse',
  summary: 'Browse an OPC UA server: the children of a node with their NodeIds, classes, values and status',
  options: {
    node: { type: 'string', valueName: 'NODEID', description: 'Node whose children are listed (default i=85, the Objects folder), e.g. "ns=2;s=Feeder"' },
    timeout: { type: 'string', valueName: 'MS', description: 'Wait this long for each step (default 5000)' },
    json: { type: 'boolean', description: 'Print JSON instead of text' },
  },
  positionals: [{ name: 'URL', description: 'Server endpoint, e.g. opc.tcp://10.0.0.9:4840' }],
  details: [
    'Connects with security None and an anonymous session (the driver can use more); the nodeId column is what a driver entry\'s nodes[].nodeId takes.',
    'Exit codes: 0 listed, 1 bad input or the server refused (no such node, no anonymous access), 2 the server cannot be reached or does not answer.',
    'Examples:',
    '  gridedge opcua browse opc.tcp://10.0.0.9:4840',
    '  gridedge opcua browse opc.tcp://10.0.0.9:4840 --node "ns=2;s=Feeder" --json',
  ].join('\n'),
  async run({ values, positionals }, io) {
    return runProbe('opcua browse', parseBrowse(positionals, values), browse, renderBrowse, values['json'] === true, io);
  },
};
