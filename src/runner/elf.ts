// A small ELF64 reader: section headers, symbols, notes (USDT), compressed debug sections,
// and Go's build info. Enough to tell a Go binary and its ABI, to list and bound functions,
// and to hand DWARF to dwarf.ts; no dependency for so little.

import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  /** sh_flags (SHF_COMPRESSED is 0x800). */
  readonly flags: number;
  readonly addr: bigint;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly entsize: number;
}

export interface ElfSymbol {
  readonly name: string;
  readonly value: bigint;
  readonly size: number;
  /** STT_FUNC */
  readonly isFunc: boolean;
}

/** A USDT probe from `.note.stapsdt`. */
export interface UsdtProbe {
  readonly provider: string;
  readonly name: string;
  /** Probe address (link-time). */
  readonly pc: bigint;
  /** Semaphore address, 0n when none. */
  readonly semaphore: bigint;
  /** Argument description, e.g. '-4@%esi 8@%rdi'. */
  readonly args: string;
}

export interface ElfNote {
  readonly owner: string;
  readonly type: number;
  readonly desc: Buffer;
}

export interface GoInfo {
  /** e.g. 'go1.19.8' */
  readonly version: string;
  /** Go >= 1.17 on amd64 passes arguments in registers. */
  readonly regabi: boolean;
}

export interface BinaryInfo {
  readonly go: GoInfo | null;
  readonly machine: number;
}

const EM_X86_64 = 62;
const SHT_NOBITS = 8;
const SHT_NOTE = 7;
const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;
/** Larger decompressed debug sections than this are refused (a corrupt or hostile header). */
const MAX_DECOMPRESSED = 1 << 30;

/** Reads `length` bytes at `offset` of an open file. */
function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

export class ElfFile {
  readonly sections: ElfSection[];
  readonly machine: number;

  private constructor(
    private readonly fd: number,
    sections: ElfSection[],
    machine: number,
  ) {
    this.sections = sections;
    this.machine = machine;
  }

  static open(path: string): ElfFile | { error: string } {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      return { error: `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
    try {
      const size = fstatSync(fd).size;
      const h = readAt(fd, 0, 64);
      if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46) return closeWith(fd, `${path} is not an ELF file`);
      if (h[4] !== 2 || h[5] !== 1) return closeWith(fd, `${path} is not a 64-bit little-endian ELF file`);
      const machine = h.readUInt16LE(18);
      const shoff = Number(h.readBigUInt64LE(40));
      const shentsize = h.readUInt16LE(58);
      const shnum = h.readUInt16LE(60);
      const shstrndx = h.readUInt16LE(62);
      if (shoff === 0 || shnum === 0 || shoff + shnum * shentsize > size) return closeWith(fd, `${path} has no section headers`);
      const raw = readAt(fd, shoff, shnum * shentsize);
      const hdrs = Array.from({ length: shnum }, (_, i) => {
        const o = i * shentsize;
        return {
          nameOff: raw.readUInt32LE(o),
          type: raw.readUInt32LE(o + 4),
          flags: Number(raw.readBigUInt64LE(o + 8)),
          addr: raw.readBigUInt64LE(o + 16),
          offset: Number(raw.readBigUInt64LE(o + 24)),
          size: Number(raw.readBigUInt64LE(o + 32)),
          link: raw.readUInt32LE(o + 40),
          entsize: Number(raw.readBigUInt64LE(o + 56)),
        };
      });
      const strtab = hdrs[shstrndx];
      const names = strtab ? readAt(fd, strtab.offset, strtab.size) : Buffer.alloc(0);
      const sections = hdrs.map((s) => ({ ...s, name: cstr(names, s.nameOff) }));
      return new ElfFile(fd, sections, machine);
    } catch (e) {
      return closeWith(fd, `cannot read ${path}: ${(e as Error).message}`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  read(section: ElfSection, offset = 0, length = section.size - offset): Buffer {
    return readAt(this.fd, section.offset + offset, Math.max(0, Math.min(length, section.size - offset)));
  }

  private funcs: ElfSymbol[] | undefined;

  /** Function symbols from .symtab (falling back to .dynsym), in table order; read once. */
  functions(): ElfSymbol[] {
    this.funcs ??= this.readFunctions();
    return this.funcs;
  }

  /** The function symbol named exactly `name` (the first one, if a stripped name repeats). */
  functionNamed(name: string): ElfSymbol | undefined {
    return this.functions().find((f) => f.name === name);
  }

  /**
   * A function's machine code: [value, value+size). A symbol of size 0 (some assembly) runs
   * to the next function symbol's start, within its section.
   */
  functionBytes(sym: ElfSymbol): Buffer | undefined {
    let size = sym.size;
    if (size === 0) {
      let next: bigint | undefined;
      for (const f of this.functions()) if (f.value > sym.value && (next === undefined || f.value < next)) next = f.value;
      const sec = this.sectionAt(sym.value);
      const end = sec ? sec.addr + BigInt(sec.size) : undefined;
      const stop = next !== undefined && end !== undefined ? (next < end ? next : end) : (next ?? end);
      if (stop === undefined) return undefined;
      size = Number(stop - sym.value);
    }
    return this.readVirtual(sym.value, size);
  }

  private readFunctions(): ElfSymbol[] {
    const symtab = this.section('.symtab') ?? this.section('.dynsym');
    if (!symtab || symtab.entsize === 0) return [];
    const strs = this.sections[symtab.link];
    if (!strs) return [];
    const names = this.read(strs);
    const data = this.read(symtab);
    const out: ElfSymbol[] = [];
    for (let o = 0; o + 24 <= data.length; o += 24) {
      const info = data[o + 4]!;
      if ((info & 0xf) !== 2) continue; // STT_FUNC
      const value = data.readBigUInt64LE(o + 8);
      if (value === 0n) continue;
      out.push({ name: cstr(names, data.readUInt32LE(o)), value, size: Number(data.readBigUInt64LE(o + 16)), isFunc: true });
    }
    return out;
  }

  /** Go's version from .go.buildinfo (Go 1.13+), or null for a non-Go binary. */
  goInfo(): GoInfo | null {
    const bi = this.section('.go.buildinfo');
    if (!bi) return null;
    const head = this.read(bi, 0, 64);
    const version = parseBuildInfoVersion(head, (addr, len) => this.readVirtual(addr, len));
    if (!version) return { version: 'go(unknown)', regabi: this.machine === EM_X86_64 };
    return { version, regabi: this.machine === EM_X86_64 && goAtLeast(version, 1, 17) };
  }

  /** Bytes at a virtual address, through the section that maps it. */
  readVirtual(addr: bigint, length: number): Buffer | undefined {
    for (const s of this.sections) {
      if (s.type === SHT_NOBITS || s.addr === 0n) continue;
      if (addr >= s.addr && addr + BigInt(length) <= s.addr + BigInt(s.size)) return this.read(s, Number(addr - s.addr), length);
    }
    return undefined;
  }

  /** The allocated section holding a virtual address. */
  sectionAt(addr: bigint): ElfSection | undefined {
    return this.sections.find((s) => s.type !== SHT_NOBITS && s.addr !== 0n && addr >= s.addr && addr < s.addr + BigInt(s.size));
  }

  /**
   * A debug section's contents, decompressed: `.debug_NAME` (SHF_COMPRESSED: an Elf64_Chdr
   * then zlib), or the older `.zdebug_NAME` ("ZLIB", 8-byte big-endian size, zlib).
   * `base` is 'info', 'abbrev', 'str'... Undefined when the binary has neither; throws
   * when the section cannot be decompressed (zstd, or corrupt data).
   */
  debugSection(base: string): Buffer | undefined {
    const plain = this.section(`.debug_${base}`);
    if (plain) {
      if (plain.type === SHT_NOBITS) return undefined;
      const data = this.read(plain);
      if ((plain.flags & SHF_COMPRESSED) === 0) return data;
      if (data.length < 24) throw new Error(`.debug_${base}: truncated compression header`);
      const type = data.readUInt32LE(0);
      const size = Number(data.readBigUInt64LE(8));
      if (type === ELFCOMPRESS_ZSTD) throw new Error(`.debug_${base} is zstd-compressed, which this reader does not support`);
      if (type !== ELFCOMPRESS_ZLIB) throw new Error(`.debug_${base}: unknown compression type ${type}`);
      return inflateTo(data.subarray(24), size, `.debug_${base}`);
    }
    const z = this.section(`.zdebug_${base}`);
    if (!z || z.type === SHT_NOBITS) return undefined;
    const data = this.read(z);
    if (data.length >= 12 && data.toString('latin1', 0, 4) === 'ZLIB') {
      const size = Number(data.readBigUInt64BE(4));
      return inflateTo(data.subarray(12), size, `.zdebug_${base}`);
    }
    return data; // not compressed after all (allowed by the old convention)
  }

  /** Notes of one SHT_NOTE section (e.g. '.note.stapsdt'), [] when absent. */
  notes(sectionName: string): ElfNote[] {
    const sec = this.section(sectionName);
    if (!sec || sec.type !== SHT_NOTE) return [];
    return parseNotes(this.read(sec));
  }

  /** USDT probes from `.note.stapsdt` (SystemTap SDT v3 notes). */
  usdtProbes(): UsdtProbe[] {
    const out: UsdtProbe[] = [];
    for (const n of this.notes('.note.stapsdt')) {
      if (n.owner !== 'stapsdt' || n.type !== 3 || n.desc.length < 24 + 2) continue;
      const d = n.desc;
      const strs = d.subarray(24);
      const p1 = strs.indexOf(0);
      const p2 = p1 < 0 ? -1 : strs.indexOf(0, p1 + 1);
      if (p2 < 0) continue;
      const p3 = strs.indexOf(0, p2 + 1);
      out.push({
        pc: d.readBigUInt64LE(0),
        semaphore: d.readBigUInt64LE(16),
        provider: strs.toString('utf8', 0, p1),
        name: strs.toString('utf8', p1 + 1, p2),
        args: strs.toString('utf8', p2 + 1, p3 < 0 ? strs.length : p3),
      });
    }
    return out;
  }
}

function closeWith(fd: number, error: string): { error: string } {
  closeSync(fd);
  return { error };
}

function inflateTo(data: Buffer, size: number, what: string): Buffer {
  if (size > MAX_DECOMPRESSED) throw new Error(`${what}: implausible decompressed size ${size}`);
  let out: Buffer;
  try {
    out = inflateSync(data, { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    throw new Error(`${what}: cannot decompress (${(e as Error).message})`);
  }
  if (out.length !== size) throw new Error(`${what}: decompressed to ${out.length} bytes, header says ${size}`);
  return out;
}

/** ELF notes: namesz, descsz, type, name (padded to 4), desc (padded to 4). */
export function parseNotes(data: Buffer): ElfNote[] {
  const out: ElfNote[] = [];
  let o = 0;
  const pad = (n: number) => (n + 3) & ~3;
  while (o + 12 <= data.length) {
    const namesz = data.readUInt32LE(o);
    const descsz = data.readUInt32LE(o + 4);
    const type = data.readUInt32LE(o + 8);
    const nameAt = o + 12;
    const descAt = nameAt + pad(namesz);
    const next = descAt + pad(descsz);
    if (descAt + descsz > data.length) break;
    const owner = data.toString('utf8', nameAt, nameAt + Math.max(0, namesz - 1));
    out.push({ owner, type, desc: data.subarray(descAt, descAt + descsz) });
    o = next;
  }
  return out;
}

function cstr(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 ? buf.length : end);
}

const BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

/**
 * .go.buildinfo: 14-byte magic, pointer size, flags; with flags&2 (Go 1.18+) the version
 * follows at offset 32 as a varint-length string, else two pointers to Go strings.
 */
export function parseBuildInfoVersion(head: Buffer, readVirtual: (addr: bigint, len: number) => Buffer | undefined): string | null {
  if (head.length < 32 || !head.subarray(0, 14).equals(BUILDINFO_MAGIC)) return null;
  const ptrSize = head[14]!;
  const flags = head[15]!;
  if (flags & 2) {
    let len = 0;
    let shift = 0;
    let o = 32;
    for (; o < head.length; o++) {
      const b = head[o]!;
      len |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    const start = o + 1;
    return start + len <= head.length ? head.toString('utf8', start, start + len) : null;
  }
  if (ptrSize !== 8) return null;
  const strPtr = head.readBigUInt64LE(16);
  const hdr = readVirtual(strPtr, 16);
  if (!hdr) return null;
  const data = readVirtual(hdr.readBigUInt64LE(0), Number(hdr.readBigUInt64LE(8)));
  return data ? data.toString('utf8') : null;
}

export function goAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^go(\d+)\.(\d+)/.exec(version);
  if (!m) return true; // devel builds are new
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/** What the compiler needs to know about a binary; null when it cannot be read. */
export function binaryInfo(path: string): BinaryInfo | { error: string } {
  const f = ElfFile.open(path);
  if ('error' in f) return f;
  try {
    return { go: f.goInfo(), machine: f.machine };
  } finally {
    f.close();
  }
}
