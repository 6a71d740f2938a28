// XML writing and the XML parsing S3 needs (request bodies such as CompleteMultipartUpload). Nothing else lives here.
// Writing goes through fast-xml-builder (escaping, attributes); parsing through saxes, a strict, namespace-aware
// XML 1.0 parser: a document it refuses is malformed, and callers answer MalformedXML.

import XMLBuilder from "fast-xml-builder";
import { SaxesParser } from "saxes";
import { S3Error } from "./errors.ts";

export const S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";
/** The namespace of `xsi:type`, which tells a Grantee's kind in ACLs (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Grantee.html). */
export const XSI_XMLNS = "http://www.w3.org/2001/XMLSchema-instance";

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

export type XmlValue = string | number | boolean | bigint | null | undefined | XmlNode | XmlValue[];
/**
 * An element's content: each key is a child element (arrays repeat it; undefined and null are omitted), except
 * keys starting with "@", which are attributes of the element itself, e.g. `{ "@xsi:type": "Group", URI: "…" }`.
 */
export interface XmlNode {
  [element: string]: XmlValue;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  textNodeName: "#text",
  processEntities: true,
  suppressEmptyNode: false,
  format: false,
});

/** Drops undefined and null (the builder would write `<X/>` for null) and turns every scalar into its text. */
function prune(value: XmlValue): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined && v !== null).map(prune);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(value)) {
      if (child !== undefined && child !== null) out[name] = prune(child);
    }
    return out;
  }
  return String(value);
}

/** Renders `{ Root: {...} }` as an XML document in the S3 namespace (or `xmlns`; null for none). */
export function toXml(root: string, body: XmlNode, xmlns: string | null = S3_XMLNS): string {
  const content = prune(body) as Record<string, unknown>;
  return DECLARATION + builder.build({ [root]: xmlns ? { "@xmlns": xmlns, ...content } : content });
}

/** A document whose root holds only text, e.g. <LocationConstraint>eu-west-1</LocationConstraint>. */
export function toXmlText(root: string, text: string, xmlns: string = S3_XMLNS): string {
  return DECLARATION + builder.build({ [root]: { "@xmlns": xmlns, "#text": text } });
}

/** A parsed XML element: its local name (any namespace prefix dropped), text content and child elements. */
export interface XmlElement {
  name: string;
  text: string;
  children: XmlElement[];
}

/**
 * Parses an S3 request body. Returns undefined when the document is not well-formed XML 1.0 with namespaces
 * (including character references to characters XML does not allow, such as &#x110000; or &#0;, and unbound
 * prefixes), or when it carries a DOCTYPE: S3 bodies never need one, and refusing it rules out entity expansion
 * (billion laughs). saxes itself expands no entity a DTD declares.
 */
export function parseXml(source: string): XmlElement | undefined {
  const parser = new SaxesParser({ xmlns: true, position: false });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const appendText = (text: string) => {
    const open = stack[stack.length - 1];
    if (open) open.text += text;
  };
  parser.on("error", (error) => {
    throw error;
  });
  parser.on("doctype", () => {
    throw new Error("DOCTYPE is not allowed");
  });
  parser.on("opentag", (tag) => {
    const element: XmlElement = { name: tag.local, text: "", children: [] };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(element);
    else root = element;
    stack.push(element);
  });
  parser.on("closetag", () => {
    stack.pop();
  });
  parser.on("text", appendText);
  parser.on("cdata", appendText);
  try {
    parser.write(source).close();
  } catch {
    return undefined;
  }
  return root;
}

/**
 * The text of the child element `name`, or undefined when there is none. A child that holds elements where S3
 * expects text (`<Key>k<a/></Key>`) does not validate against S3's schema: MalformedXML, never its text alone.
 */
export function childText(el: XmlElement, name: string): string | undefined {
  const child = el.children.find((c) => c.name === name);
  if (child && child.children.length > 0) throw new S3Error("MalformedXML");
  return child?.text;
}
