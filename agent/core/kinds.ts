/**
 * The plugin kinds, listed once. The config schema and loader, `gridedge config schema`, the
 * composition root, the status document and `/metrics` all iterate this table; the plugins of each
 * kind are listed in agent/registry.ts. Each kind is configured as a list of entries
 * `{ type, id, ...the plugin's own keys }` under its `list` key.
 */

export const KINDS = [
  {
    kind: 'driver',
    list: 'drivers',
    doc: 'Field device drivers: read devices and publish their measurements on bal/raw/<device>',
    idDoc: 'Names the device (topic bal/raw/<id>); unique among drivers',
  },
  {
    kind: 'processor',
    list: 'processors',
    doc: 'Processors, applied in this order to every accepted measurement before it is published on bal/processed/<device>',
    idDoc: 'Names the processor (its counters and log lines); unique among processors',
  },
  {
    kind: 'aggregator',
    list: 'aggregators',
    doc: 'Aggregators: collect processed measurements into windows and publish them (bal/processed/<device>/stats/<window>)',
    idDoc: 'Names the aggregator (its counters and log lines); unique among aggregators',
  },
  {
    kind: 'analyzer',
    list: 'analyzers',
    doc: 'Analyzers: run periodically or on a change over the latest values of chosen devices and publish their results through the data path',
    idDoc: 'Names the analyzer (its counters and log lines); unique among analyzers',
  },
  {
    kind: 'forwarder',
    list: 'forwarders',
    doc: 'Upstream forwarders: send the buffered rows to a central platform, each with its own cursor',
    idDoc: 'Names the forwarder (its buffer cursor and counters); unique among forwarders',
  },
  {
    kind: 'service',
    list: 'services',
    doc: 'Services: their own config, start/stop, health and counters, and REST routes under /api/v1',
    idDoc: 'Names the service (its counters, log lines and storage folder); unique among services',
  },
] as const;

export type KindInfo = (typeof KINDS)[number];
export type KindName = KindInfo['kind'];
/** The config key of a kind's list: `drivers`, `processors` ... */
export type ListKey = KindInfo['list'];

export const LIST_KEYS: readonly ListKey[] = KINDS.map((k) => k.list);

export function kindOf(list: ListKey): KindInfo {
  return KINDS.find((k) => k.list === list)!;
}
