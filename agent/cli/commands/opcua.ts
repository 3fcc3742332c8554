/**
 * `gridedge opcua browse URL [--node NODEID] [--security MODE] [--policy NAME] [--user NAME]`: list
 * one node's children on an OPC UA server (drivers/opcua/probe.ts); with --user, the password is the
 * first line of standard input.
 */
import { runProbe, type Command } from '../command.js';
import { browse, parseBrowse, renderBrowse } from '../../../drivers/opcua/probe.js';
import { SECURITY_MODES, SECURITY_POLICIES } from '../../../drivers/opcua/config.js';
import { readSecret } from '../io.js';

export const opcuaBrowseCommand: Command = {
  name: 'opcua browse',
  summary: 'Browse an OPC UA server: the children of a node with their NodeIds, classes, values and status',
  options: {
    node: { type: 'string', valueName: 'NODEID', description: 'Node whose children are listed (default i=85, the Objects folder), e.g. "ns=2;s=Feeder"' },
    timeout: {
      type: 'string',
      valueName: 'DURATION',
      duration: { bare: 'ms', minMs: 100, maxMs: 600_000 },
      description: 'Wait this long for each step (default 5s)',
    },
    security: { type: 'string', valueName: 'MODE', description: `Message security mode: ${SECURITY_MODES.join(', ')} (default None)` },
    policy: { type: 'string', valueName: 'NAME', description: `Security policy: ${SECURITY_POLICIES.join(', ')} (default None with mode None, else Basic256Sha256)` },
    user: { type: 'string', valueName: 'NAME', description: 'Open the session as this user (default anonymous); the password is read from standard input' },
    json: { type: 'boolean', description: 'Print JSON instead of text' },
  },
  positionals: [{ name: 'URL', description: 'Server endpoint, e.g. opc.tcp://10.0.0.9:4840' }],
  details: [
    'Connects with security None and an anonymous session unless --security, --policy or --user say otherwise (the settings of a driver entry\'s security); the nodeId column is what a driver entry\'s nodes[].nodeId takes.',
    'With --user, the password is the first line of standard input, so it appears neither in the shell history nor in the process list.',
    'With Sign or SignAndEncrypt the server must trust the probe\'s certificate (the message names its file); the probe accepts the server\'s without asking.',
    'Exit codes: 0 listed, 1 bad input or the server refused (no such node, no anonymous access), 2 the server cannot be reached or does not answer.',
    'Examples:',
    '  gridedge opcua browse opc.tcp://10.0.0.9:4840',
    '  gridedge opcua browse opc.tcp://10.0.0.9:4840 --node "ns=2;s=Feeder" --json',
    "  printf '%s\\n' 'the password' | gridedge opcua browse opc.tcp://10.0.0.9:4840 --security SignAndEncrypt --user operator",
  ].join('\n'),
  async run({ values, positionals }, io) {
    const user = values['user'];
    const password = typeof user === 'string' && user !== '' ? await readSecret(`Password of ${user} (not shown): `, io.err) : '';
    if (password === null) return 130;
    return runProbe('opcua browse', parseBrowse(positionals, values, password), browse, renderBrowse, values['json'] === true, io);
  },
};
