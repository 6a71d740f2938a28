// Tags on objects and buckets: the x-amz-tagging header form, the Tagging XML document, and S3's limits.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html

import { S3Error } from "./errors.ts";
import { childText, parseXml, type XmlNode } from "./xml.ts";

export type TagSet = Record<string, string>;

const MAX_OBJECT_TAGS = 10;
const MAX_BUCKET_TAGS = 50;

function validate(tags: [string, string][], max: number): TagSet {
  if (tags.length > max) throw new S3Error("InvalidTag", `Object tags cannot be greater than ${max}`);
  const out: TagSet = {};
  for (const [key, value] of tags) {
    if (key.length < 1 || key.length > 128) throw new S3Error("InvalidTag", "The TagKey you have provided is invalid");
    if (value.length > 256) throw new S3Error("InvalidTag", "The TagValue you have provided is invalid");
    if (key.startsWith("aws:")) throw new S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:");
    if (Object.hasOwn(out, key)) throw new S3Error("InvalidTag", "Cannot provide multiple Tags with the same key");
    out[key] = value;
  }
  return out;
}

/** Parses the x-amz-tagging header (URL query form: k1=v1&k2=v2). */
export function parseTaggingHeader(value: string | null): TagSet | undefined {
  if (value === null) return undefined;
  const pairs: [string, string][] = [];
  for (const piece of value.split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
    try {
      pairs.push(eq < 0 ? [decode(piece), ""] : [decode(piece.slice(0, eq)), decode(piece.slice(eq + 1))]);
    } catch {
      throw new S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.");
    }
  }
  return validate(pairs, MAX_OBJECT_TAGS);
}

/** Parses a <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> body. */
export function parseTaggingXml(body: string, scope: "object" | "bucket"): TagSet {
  const doc = parseXml(body);
  const tagSet = doc?.name === "Tagging" ? doc.children.find((c) => c.name === "TagSet") : undefined;
  if (!tagSet) throw new S3Error("MalformedXML");
  const pairs = tagSet.children
    .filter((c) => c.name === "Tag")
    .map((t): [string, string] => {
      const key = childText(t, "Key");
      if (key === undefined) throw new S3Error("MalformedXML");
      return [key, childText(t, "Value") ?? ""];
    });
  return validate(pairs, scope === "object" ? MAX_OBJECT_TAGS : MAX_BUCKET_TAGS);
}

export function taggingXml(tags: TagSet): XmlNode {
  return { TagSet: { Tag: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } };
}
