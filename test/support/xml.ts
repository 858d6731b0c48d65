// A minimal, strict XML 1.0 parser for tests (JUnit reports): elements, attributes, text,
// the five predefined entities and character references, comments, an XML declaration.
// Throws on anything not well-formed (mismatched or unclosed tags, a raw '<' or '&' in text
// or attributes, duplicate attributes, characters XML cannot hold, more than one root).
// No DTDs, CDATA or processing instructions besides the declaration: our writer emits none.
// Scans characters; no regular expressions.

export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly (XmlElement | string)[];
}

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function isNameStart(c: string): boolean {
  const n = c.charCodeAt(0);
  return (n >= 65 && n <= 90) || (n >= 97 && n <= 122) || c === '_' || c === ':' || n >= 0xc0;
}

function isNameChar(c: string): boolean {
  const n = c.charCodeAt(0);
  return isNameStart(c) || (n >= 48 && n <= 57) || c === '-' || c === '.' || n === 0xb7;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/** Is this UTF-16 code unit sequence a legal XML 1.0 Char at i? Returns its length, or 0. */
function charLength(s: string, i: number): number {
  const n = s.charCodeAt(i);
  if (n === 0x9 || n === 0xa || n === 0xd) return 1;
  if (n < 0x20) return 0;
  if (n >= 0xd800 && n <= 0xdbff) {
    const m = s.charCodeAt(i + 1);
    return m >= 0xdc00 && m <= 0xdfff ? 2 : 0;
  }
  if (n >= 0xdc00 && n <= 0xdfff) return 0;
  if (n === 0xfffe || n === 0xffff) return 0;
  return 1;
}

function isDigits(s: string, hex: boolean): boolean {
  if (s.length === 0) return false;
  for (const c of s) {
    const n = c.charCodeAt(0);
    const dec = n >= 48 && n <= 57;
    const hx = (n >= 65 && n <= 70) || (n >= 97 && n <= 102);
    if (!(dec || (hex && hx))) return false;
  }
  return true;
}

export class XmlError extends Error {}

export function parseXml(text: string): XmlElement {
  let p = 0;
  const err = (msg: string): never => {
    throw new XmlError(`${msg} at offset ${p}: ${JSON.stringify(text.slice(p, p + 30))}`);
  };
  for (let i = 0; i < text.length; ) {
    const n = charLength(text, i);
    if (n === 0) {
      p = i;
      err(`character U+${text.charCodeAt(i).toString(16)} is not allowed in XML`);
    }
    i += n;
  }

  const skipSpace = () => {
    while (p < text.length && isSpace(text[p])) p++;
  };
  const name = (): string => {
    const start = p;
    if (p >= text.length || !isNameStart(text[p]!)) err('expected a name');
    p++;
    while (p < text.length && isNameChar(text[p]!)) p++;
    return text.slice(start, p);
  };
  const reference = (): string => {
    // at '&'
    const semi = text.indexOf(';', p);
    if (semi === -1 || semi - p > 12) err("'&' that does not start an entity");
    const body = text.slice(p + 1, semi);
    p = semi + 1;
    if (body.startsWith('#x')) {
      if (!isDigits(body.slice(2), true)) err(`bad character reference &${body};`);
      const cp = parseInt(body.slice(2), 16);
      return checkedChar(cp, body);
    }
    if (body.startsWith('#')) {
      if (!isDigits(body.slice(1), false)) err(`bad character reference &${body};`);
      return checkedChar(parseInt(body.slice(1), 10), body);
    }
    const v = PREDEFINED[body];
    if (v === undefined) err(`unknown entity &${body};`);
    return v!;
  };
  const checkedChar = (cp: number, body: string): string => {
    if (cp > 0x10ffff) err(`bad character reference &${body};`);
    const s = String.fromCodePoint(cp);
    if (charLength(s, 0) === 0) err(`character reference &${body}; is not a legal XML character`);
    return s;
  };
  const attrValue = (): string => {
    const q = text[p];
    if (q !== '"' && q !== "'") err('expected a quoted attribute value');
    p++;
    let out = '';
    for (;;) {
      if (p >= text.length) err('unterminated attribute value');
      const c = text[p]!;
      if (c === q) {
        p++;
        return out;
      }
      if (c === '<') err("'<' in an attribute value");
      if (c === '&') {
        out += reference();
        continue;
      }
      // Attribute-value normalisation: literal whitespace becomes a space.
      out += c === '\n' || c === '\t' || c === '\r' ? ' ' : c;
      p++;
    }
  };
  const comment = () => {
    // at '<!--'
    const end = text.indexOf('-->', p + 4);
    if (end === -1) err('unterminated comment');
    if (text.slice(p + 4, end).includes('--')) err("'--' inside a comment");
    p = end + 3;
  };
  const misc = () => {
    for (;;) {
      skipSpace();
      if (text.startsWith('<!--', p)) comment();
      else return;
    }
  };
  const element = (): XmlElement => {
    if (text[p] !== '<') err("expected '<'");
    p++;
    const tag = name();
    const attrs: Record<string, string> = {};
    for (;;) {
      const hadSpace = isSpace(text[p]);
      skipSpace();
      if (text.startsWith('/>', p)) {
        p += 2;
        return { name: tag, attrs, children: [] };
      }
      if (text[p] === '>') {
        p++;
        break;
      }
      if (!hadSpace) err('expected whitespace before an attribute');
      const an = name();
      skipSpace();
      if (text[p] !== '=') err("expected '=' after an attribute name");
      p++;
      skipSpace();
      if (Object.prototype.hasOwnProperty.call(attrs, an)) err(`duplicate attribute ${an}`);
      attrs[an] = attrValue();
    }
    const children: (XmlElement | string)[] = [];
    let buf = '';
    const flush = () => {
      if (buf !== '') children.push(buf);
      buf = '';
    };
    for (;;) {
      if (p >= text.length) err(`unclosed element <${tag}>`);
      const c = text[p]!;
      if (c === '<') {
        if (text.startsWith('</', p)) {
          p += 2;
          const close = name();
          if (close !== tag) err(`</${close}> closes <${tag}>`);
          skipSpace();
          if (text[p] !== '>') err("expected '>'");
          p++;
          flush();
          return { name: tag, attrs, children };
        }
        if (text.startsWith('<!--', p)) {
          comment();
          continue;
        }
        if (text.startsWith('<![CDATA[', p) || text.startsWith('<?', p) || text.startsWith('<!', p)) err('unsupported markup');
        flush();
        children.push(element());
        continue;
      }
      if (c === '&') {
        buf += reference();
        continue;
      }
      if (text.startsWith(']]>', p)) err("']]>' in text");
      buf += c;
      p++;
    }
  };

  if (text.charCodeAt(0) === 0xfeff) p = 1;
  if (text.startsWith('<?xml', p)) {
    const end = text.indexOf('?>', p);
    if (end === -1) err('unterminated XML declaration');
    const decl = text.slice(p + 5, end);
    if (!decl.includes('version=')) err('XML declaration without a version');
    p = end + 2;
  }
  misc();
  const root = element();
  misc();
  if (p !== text.length) err('content after the root element');
  return root;
}

/** Child elements named `name`. */
export function childrenNamed(e: XmlElement, name: string): XmlElement[] {
  return e.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
}

/** All text inside an element, entities decoded. */
export function textOf(e: XmlElement): string {
  return e.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}
