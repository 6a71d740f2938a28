// IPv4 and IPv6 addresses and CIDR blocks, for the IpAddress/NotIpAddress condition operators (aws:SourceIp).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress
// Addresses become 128-bit bigints; an IPv4 address is its IPv4-mapped IPv6 form (::ffff:a.b.c.d, RFC 4291
// section 2.5.5.2), so "10.0.0.0/8" also matches a socket that reports "::ffff:10.1.2.3".

export interface CidrBlock {
  /** The network's first address, as 128 bits. */
  network: bigint;
  /** Prefix length in the 128-bit space (an IPv4 /8 is /104 here). */
  bits: number;
  /** The prefix length as written, and whether it was an IPv4 block. */
  prefix: number;
  v4: boolean;
}

const V4_MAPPED = 0xffffn << 32n;

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let head = text;
  let tailV4: bigint | undefined;
  // A trailing dotted quad stands for the last 32 bits.
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  let value = 0n;
  for (const group of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(`0x${group}`);
  }
  return tailV4 === undefined ? value : (value & ~0xffffffffn) | tailV4;
}

/** An address as 128 bits (IPv4 mapped into IPv6), or undefined when it is not an IP address. */
export function parseIpAddress(text: string): bigint | undefined {
  const trimmed = text.trim();
  const v4 = parseIpv4(trimmed);
  if (v4 !== undefined) return V4_MAPPED | v4;
  return trimmed.includes(":") ? parseIpv6(trimmed) : undefined;
}

/** A CIDR block ("203.0.113.0/24", "2001:db8::/32"); a bare address is its own /32 or /128. */
export function parseCidr(text: string): CidrBlock | undefined {
  const [address, prefixText, ...rest] = text.trim().split("/");
  if (rest.length > 0 || address === undefined) return undefined;
  const v4 = parseIpv4(address) !== undefined;
  const value = parseIpAddress(address);
  if (value === undefined) return undefined;
  const max = v4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  const bits = v4 ? prefix + 96 : prefix;
  return { network: value & mask(bits), bits, prefix, v4 };
}

function mask(bits: number): bigint {
  return bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits);
}

export function cidrContains(block: CidrBlock, address: bigint): boolean {
  return (address & mask(block.bits)) === block.network;
}
