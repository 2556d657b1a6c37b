/**
 * Which webhook destinations the gateway may call. Webhooks are a server-side request the caller aims, so
 * by default only https to public addresses is allowed: no loopback, private, link-local (cloud metadata
 * at 169.254.169.254), carrier-grade NAT, multicast or reserved ranges, IPv4-mapped IPv6 forms included.
 * A literal address is refused at submission; a hostname is resolved at every delivery attempt and the
 * connection goes to the very address that was checked (see {@link safeLookup}), so a DNS answer that
 * changes after submission (DNS rebinding) cannot reach an internal address either.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/** What destinations are allowed. Both switches are for development and tests. */
export interface DestinationPolicy {
  /** Plain http:// as well as https:// (WEBHOOK_ALLOW_HTTP). */
  allowHttp: boolean;
  /** Loopback, private and link-local addresses too (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
}

/** Resolves every address of a name, as `dns.lookup` with `all: true` does (a seam for tests). */
export type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** The safe default: https to public addresses only. */
export const STRICT_DESTINATIONS: DestinationPolicy = { allowHttp: false, allowPrivate: false };

const FORBIDDEN = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const)
  FORBIDDEN.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::", 96], // unspecified, loopback, and the deprecated IPv4-compatible ::a.b.c.d
  ["64:ff9b::", 96], // NAT64: embeds an IPv4 address that may be private
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
] as const)
  FORBIDDEN.addSubnet(network, prefix, "ipv6");

/** Whether an IP address is one a webhook must not reach without `allowPrivate`. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  // BlockList checks IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 rules.
  return FORBIDDEN.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** Why a destination is refused, or undefined when it may be called (its name resolved later). */
export function destinationProblem(url: string, policy: DestinationPolicy): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not an absolute URL";
  }
  if (parsed.protocol !== "https:" && !(policy.allowHttp && parsed.protocol === "http:"))
    return policy.allowHttp ? "must be an http or https URL" : "must be an https URL";
  if (parsed.username !== "" || parsed.password !== "") return "must not hold credentials";
  if (policy.allowPrivate) return undefined;
  // "localhost." is localhost: the trailing dot of a fully qualified name changes nothing.
  const host = parsed.hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
  if (isIP(host) !== 0) return isForbiddenAddress(host) ? `${host} is not a public address` : undefined;
  if (host === "localhost" || host.endsWith(".localhost") || !host.includes("."))
    return `${host} is not a public host name`;
  return undefined;
}

/**
 * A `lookup` for http(s).request that resolves the name and refuses the connection when any address it
 * resolves to is forbidden: the socket then connects to the checked address, never to a second answer.
 */
export function safeLookup(policy: DestinationPolicy, resolve: Resolver = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const bad = policy.allowPrivate ? undefined : addresses.find((a) => isForbiddenAddress(a.address));
      if (bad !== undefined || addresses.length === 0) {
        const refused = Object.assign(
          new Error(`${hostname} resolves to ${bad?.address ?? "nothing"}, which webhooks may not reach`),
          { code: "WEBHOOK_DESTINATION_FORBIDDEN" },
        );
        return callback(refused, "", 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
