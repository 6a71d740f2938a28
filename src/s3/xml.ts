// XML writing and the little XML parsing S3 needs (request bodies such as CompleteMultipartUpload).
// Nothing else lives here.

export const S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";

export type XmlValue = string | number | boolean | bigint | null | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  [element: string]: XmlValue;
}

export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) =>
    ch === "&" ? "&amp;" : ch === "<" ? "&lt;" : ch === ">" ? "&gt;" : ch === '"' ? "&quot;" : "&apos;",
  );
}

/** Renders `{ Root: {...} }` as an XML document; arrays repeat their element, undefined/null are omitted. */
export function toXml(root: string, body: XmlNode, xmlns: string | null = S3_XMLNS): string {
  const attr = xmlns ? ` xmlns="${xmlns}"` : "";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${attr}>${renderChildren(body)}</${root}>`;
}

/** A document whose root holds only text, e.g. <LocationConstraint>eu-west-1</LocationConstraint>. */
export function toXmlText(root: string, text: string, xmlns: string = S3_XMLNS): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${xmlns}">${escapeXml(text)}</${root}>`;
}

function renderChildren(node: XmlNode): string {
  let out = "";
  for (const [name, value] of Object.entries(node)) out += renderElement(name, value);
  return out;
}

function renderElement(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map((v) => renderElement(name, v)).join("");
  if (typeof value === "object") return `<${name}>${renderChildren(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A parsed XML element: its name, text content and children (attributes are not needed by S3 bodies). */
export interface XmlElement {
  name: string;
  text: string;
  children: XmlElement[];
}

/**
 * Parses a small, namespace-agnostic XML document (S3 request bodies). Returns undefined when malformed, so callers
 * answer MalformedXML. Element names have any namespace prefix stripped.
 */
export function parseXml(source: string): XmlElement | undefined {
  const tokens = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([A-Za-z_][\w.:-]*)([^>]*?)(\/?)>|([^<]+)/g;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = tokens.exec(source)) !== null) {
    if (match.index !== consumed) return undefined;
    consumed = tokens.lastIndex;
    const [, cdata, closing, rawName, , selfClosing, text] = match;
    if (rawName !== undefined) {
      const name = rawName.includes(":") ? rawName.slice(rawName.indexOf(":") + 1) : rawName;
      if (closing) {
        const open = stack.pop();
        if (!open || open.name !== name) return undefined;
        if (stack.length === 0) root = open;
      } else {
        const el: XmlElement = { name, text: "", children: [] };
        const parent = stack[stack.length - 1];
        if (parent) parent.children.push(el);
        else if (root) return undefined;
        if (selfClosing) {
          if (!parent) root = el;
        } else stack.push(el);
      }
    } else if (cdata !== undefined || text !== undefined) {
      const parent = stack[stack.length - 1];
      const content = cdata ?? unescapeXml(text ?? "");
      if (parent) parent.text += content;
      else if ((text ?? "").trim() !== "") return undefined;
    }
  }
  if (consumed !== source.length || stack.length !== 0) return undefined;
  return root;
}

function unescapeXml(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    if (entity[0] === "#") {
      return String.fromCodePoint(entity[1] === "x" ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[entity as "amp"];
  });
}

export function childText(el: XmlElement, name: string): string | undefined {
  return el.children.find((c) => c.name === name)?.text;
}
