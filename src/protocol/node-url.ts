// Which URLs the edge (and a node, for repair pulls) will fetch on a node operator's say-so. A node registers a
// base URL: scheme, host, port and an optional base path, nothing else. Hosts that name the fetcher's own
// network (loopback, private, shared, link-local, unspecified addresses, `localhost` names) are refused unless
// the deployment allows them (a local network does). Every check runs on the WHATWG-parsed URL, so decimal,
// octal and hex IPv4 forms (`http://2130706433`, `http://0x7f.1`) and IPv4-mapped IPv6 are judged by the address
// they reach. Hostnames cannot be resolved before fetching (a Worker has no DNS API): a name that resolves to a
// private address is not caught here (README, Node URLs). Runtime-free: shared with node-agent.

export class NodeUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NodeUrlError";
  }
}

export interface NodeUrlPolicy {
  /** Allow loopback, private and link-local addresses and localhost names (a local network, tests). */
  allowPrivate: boolean;
}

/** Base path segments: unreserved characters only (RFC 3986 section 2.3), so nothing in them is reinterpreted. */
const BASE_PATH = /^(?:\/[A-Za-z0-9._~-]+)*\/?$/;

/**
 * A node's registered base URL, normalised (`http://host:port/base`, no trailing slash). Throws NodeUrlError
 * naming what is wrong.
 */
export function parseNodeBaseUrl(raw: string, policy: NodeUrlPolicy): string {
  // `?` and `#` are refused as characters: an empty query or fragment parses to "" and would slip through.
  if (raw.includes("?") || raw.includes("#")) throw new NodeUrlError("a node URL may not have a query or fragment");
  // Nor percent-escapes: `%2e%2e` is a dot segment to the parser, `%25` an IPv6 zone id.
  if (raw.includes("%")) throw new NodeUrlError("a node URL may not hold percent-escapes");
  const url = parseHttpUrl(raw);
  if (!BASE_PATH.test(url.pathname) || /(?:^|\/)\.{1,2}(?:\/|$)/.test(url.pathname)) {
    throw new NodeUrlError("a node URL's base path may hold only letters, digits and . _ ~ - between slashes");
  }
  checkHost(url, policy);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** Checks a URL a node is told to fetch from (a presigned GET on a peer): same host rules, query allowed. */
export function checkNodeFetchUrl(raw: string, policy: NodeUrlPolicy): URL {
  if (raw.includes("#")) throw new NodeUrlError("a node URL may not have a fragment");
  const url = parseHttpUrl(raw);
  checkHost(url, policy);
  return url;
}

/** `path` (starting with /) under a node's base URL, built as a URL: no string joins. */
export function nodeRequestUrl(baseUrl: string, path: string, query?: Record<string, string>): URL {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  url.search = "";
  url.hash = "";
  for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
  return url;
}

function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NodeUrlError("not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new NodeUrlError("a node URL must be http:// or https://");
  if (url.username !== "" || url.password !== "") throw new NodeUrlError("a node URL may not carry a user name or password");
  return url;
}

function checkHost(url: URL, policy: NodeUrlPolicy): void {
  if (policy.allowPrivate) return;
  const problem = hostProblem(url.hostname);
  if (problem) throw new NodeUrlError(`${url.hostname} is ${problem}; this edge only reaches nodes at public addresses`);
}

/** Why `hostname` (as WHATWG URL parsing leaves it) is not a public host, or undefined when it may be. */
export function hostProblem(hostname: string): string | undefined {
  if (hostname.startsWith("[")) {
    const words = parseIpv6(hostname.slice(1, -1));
    return words ? ipv6Problem(words) : "not a valid IPv6 address";
  }
  const v4 = parseIpv4(hostname);
  if (v4) return ipv4Problem(v4);
  const name = hostname.toLowerCase().replace(/\.$/, "");
  // RFC 6761 section 6.3: localhost and every name under it are the loopback host.
  if (name === "localhost" || name.endsWith(".localhost")) return "a localhost name";
  return undefined;
}

/** Dotted-quad only: the URL parser has already turned every other IPv4 form into one. */
function parseIpv4(host: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** Special-purpose IPv4 blocks (RFC 6890 and the IANA registry) that must not be reached on a node's word. */
function ipv4Problem([a, b]: number[]): string | undefined {
  if (a === 0) return "an unspecified address (0.0.0.0/8)";
  if (a === 127) return "a loopback address (127.0.0.0/8)";
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return "a private address (RFC 1918)";
  if (a === 100 && b! >= 64 && b! <= 127) return "a shared (CGNAT) address (100.64.0.0/10, RFC 6598)";
  if (a === 169 && b === 254) return "a link-local address (169.254.0.0/16)";
  if (a === 192 && b === 0) return "a special-purpose address (192.0.0.0/24)";
  if (a === 198 && (b === 18 || b === 19)) return "a benchmarking address (198.18.0.0/15)";
  if (a! >= 224) return "a multicast or reserved address (224.0.0.0/3)";
  return undefined;
}

/** Eight 16-bit words, or undefined. Accepts `::` and a trailing dotted quad. */
function parseIpv6(text: string): number[] | undefined {
  let head = text;
  const tailWords: number[] = [];
  const quad = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (quad) {
    const v4 = parseIpv4(quad[2]!);
    if (!v4) return undefined;
    head = quad[1]!.endsWith("::") ? quad[1]! : quad[1]!.slice(0, -1);
    tailWords.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const words = (part: string) => (part === "" ? [] : part.split(":").map((w) => (/^[0-9a-f]{1,4}$/i.test(w) ? parseInt(w, 16) : NaN)));
  const left = words(halves[0]!);
  const right = halves.length === 2 ? [...words(halves[1]!), ...tailWords] : [];
  const all = halves.length === 2 ? left : [...left, ...tailWords];
  if ([...all, ...right].some(Number.isNaN)) return undefined;
  const missing = 8 - all.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  return [...all, ...Array<number>(Math.max(0, missing)).fill(0), ...right];
}

/** Special-purpose IPv6 blocks (RFC 6890, RFC 4291), and IPv4 addresses embedded in IPv6 judged as IPv4. */
function ipv6Problem(w: number[]): string | undefined {
  const embedded = () => ipv4Problem([w[6]! >> 8, w[6]! & 0xff, w[7]! >> 8, w[7]! & 0xff]);
  const zeroUpTo = (n: number) => w.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return "the unspecified address (::)";
  if (zeroUpTo(7) && w[7] === 1) return "the loopback address (::1)";
  // ::ffff:a.b.c.d (IPv4-mapped), ::a.b.c.d (IPv4-compatible, deprecated), 64:ff9b::a.b.c.d (NAT64, RFC 6052).
  if ((zeroUpTo(5) && w[5] === 0xffff) || zeroUpTo(6) || (w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((x) => x === 0))) {
    const problem = embedded();
    return problem ? `an IPv6 form of ${problem}` : undefined;
  }
  // 2002:V4ADDR::/48 (6to4, RFC 3056) carries an IPv4 address in words 1 and 2.
  if (w[0] === 0x2002) {
    const problem = ipv4Problem([w[1]! >> 8, w[1]! & 0xff, w[2]! >> 8, w[2]! & 0xff]);
    return problem ? `a 6to4 form of ${problem}` : undefined;
  }
  if ((w[0]! & 0xfe00) === 0xfc00) return "a unique local address (fc00::/7)";
  if ((w[0]! & 0xffc0) === 0xfe80) return "a link-local address (fe80::/10)";
  if ((w[0]! & 0xffc0) === 0xfec0) return "a site-local address (fec0::/10)";
  if ((w[0]! & 0xff00) === 0xff00) return "a multicast address (ff00::/8)";
  return undefined;
}
