// The two bucket settings that decide what ACLs and public policies may do: Object Ownership
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html) and Block Public Access
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html). Their XML
// documents are parsed and written here; bucket-access.ts applies them.

import { S3Error } from "../errors.ts";
import { childText, parseXml, type XmlNode } from "../xml.ts";

export const OBJECT_OWNERSHIPS = ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"] as const;
export type ObjectOwnership = (typeof OBJECT_OWNERSHIPS)[number];

export function parseObjectOwnership(value: string, where: string): ObjectOwnership {
  const v = value.trim();
  if (!(OBJECT_OWNERSHIPS as readonly string[]).includes(v)) throw new S3Error("InvalidArgument", "Invalid x-amz-object-ownership header", { ArgumentName: where, ArgumentValue: value });
  return v as ObjectOwnership;
}

/** OwnershipControls with exactly one Rule naming one ObjectOwnership (API_PutBucketOwnershipControls.html). */
export function parseOwnershipControlsXml(body: string): ObjectOwnership {
  const doc = parseXml(body);
  if (!doc || doc.name !== "OwnershipControls") throw new S3Error("MalformedXML");
  const rules = doc.children.filter((c) => c.name === "Rule");
  if (rules.length !== 1 || doc.children.length !== 1) throw new S3Error("MalformedXML");
  const value = childText(rules[0]!, "ObjectOwnership");
  if (value === undefined || !(OBJECT_OWNERSHIPS as readonly string[]).includes(value.trim())) throw new S3Error("MalformedXML");
  return value.trim() as ObjectOwnership;
}

export function ownershipControlsXml(ownership: ObjectOwnership): XmlNode {
  return { Rule: { ObjectOwnership: ownership } };
}

/** The four Block Public Access flags; an absent flag is false. */
export interface PublicAccessBlock {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}

const FLAGS: [keyof PublicAccessBlock, string][] = [
  ["blockPublicAcls", "BlockPublicAcls"],
  ["ignorePublicAcls", "IgnorePublicAcls"],
  ["blockPublicPolicy", "BlockPublicPolicy"],
  ["restrictPublicBuckets", "RestrictPublicBuckets"],
];

/** PublicAccessBlockConfiguration (API_PutPublicAccessBlock.html). */
export function parsePublicAccessBlockXml(body: string): PublicAccessBlock {
  const doc = parseXml(body);
  if (!doc || doc.name !== "PublicAccessBlockConfiguration") throw new S3Error("MalformedXML");
  const known = new Set(FLAGS.map(([, name]) => name));
  if (doc.children.some((c) => !known.has(c.name))) throw new S3Error("MalformedXML");
  const config = {} as PublicAccessBlock;
  for (const [field, name] of FLAGS) {
    const text = childText(doc, name)?.trim().toLowerCase();
    if (text !== undefined && text !== "true" && text !== "false") throw new S3Error("MalformedXML");
    config[field] = text === "true";
  }
  return config;
}

export function publicAccessBlockXml(config: PublicAccessBlock): XmlNode {
  return Object.fromEntries(FLAGS.map(([field, name]) => [name, config[field]]));
}
