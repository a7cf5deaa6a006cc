// Kubernetes service links: for every Service in the namespace the kubelet injects
// <SERVICE>_SERVICE_HOST, <SERVICE>_SERVICE_PORT[_<port name>], <SERVICE>_PORT=tcp://ip:port and
// <SERVICE>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]. A Service named model-sync-registry thus sets
// MODEL_SYNC_REGISTRY_PORT=tcp://…, which is also a setting. These helpers recognise such
// variables so that they are refused (a known setting) or reported once per Service (the rest).

const LINK_VALUE = /^(tcp|udp|sctp):\/\/(\[[0-9a-f:.]+\]|[^\s/:[\]@]+):\d{1,5}$/i;

/** A value shaped like a service link (`tcp://10.0.0.1:8080`, also udp and sctp). */
export function isServiceLinkValue(value: string): boolean {
  return LINK_VALUE.test(value.trim());
}

// Name shapes, most specific first; group 1 is the Service's variable prefix.
const LINK_NAMES: Array<{ name: RegExp; needsLinkValue: boolean }> = [
  { name: /^(.+)_PORT_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?$/, needsLinkValue: false },
  { name: /^(.+)_SERVICE_HOST$/, needsLinkValue: false },
  { name: /^(.+)_SERVICE_PORT$/, needsLinkValue: false },
  { name: /^(.+?)_SERVICE_PORT_[A-Z0-9_]+$/, needsLinkValue: false },
  // <SERVICE>_PORT alone is a common name; only its tcp:// value makes it a link.
  { name: /^(.+)_PORT$/, needsLinkValue: true },
];

export interface ServiceLink {
  /** The Service the kubelet injected it for, when the name says (`model-sync-registry`). */
  service?: string;
}

/**
 * Whether a variable looks injected as a service link, and for which Service: MODEL_SYNC_REGISTRY_PORT
 * with a tcp:// value is one of `model-sync-registry`. A tcp:// value under another name looks like
 * a link too, of no Service the name tells.
 */
export function serviceLinkOf(name: string, value: string): ServiceLink | undefined {
  const linkValue = isServiceLinkValue(value);
  for (const shape of LINK_NAMES) {
    const m = shape.name.exec(name);
    if (m && (linkValue || !shape.needsLinkValue)) return { service: serviceName(m[1]!) };
  }
  return linkValue ? {} : undefined;
}

/** Kubernetes makes the prefix from the Service name: upper case, '-' as '_'. */
function serviceName(prefix: string): string {
  return prefix.toLowerCase().replace(/_/g, '-');
}

/** "a Kubernetes service link from a Service named x", or without the name when it is unknown. */
export function describeServiceLink(link: ServiceLink): string {
  return link.service ? `a Kubernetes service link from a Service named ${link.service}` : 'a Kubernetes service link (tcp://host:port)';
}

/** The remedies, in the words of the pod spec. */
export const SERVICE_LINK_FIX = 'set enableServiceLinks: false in the pod spec, or rename the Service';
