"""Streaming pcap / pcapng reader over raw records.

Reads the file in fixed-size chunks and yields ``(time, linktype, buf, start, end)``
per packet, where ``buf[start:end]`` is the captured frame.  Nothing but the
current chunk is held, so memory stays flat however large the capture.  Header
fields are read with precompiled ``struct.Struct`` formats; errors name the file
and the byte offset of the bad record.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from callgen.errors import CaptureFormatError

CHUNK = 1 << 22  # 4 MiB
MAX_RECORD = 1 << 20  # larger than any snaplen tcpdump/dumpcap uses

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D

# Link types understood by the decoder (callgen.analysis.scan).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED_LINKTYPES = {
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, 12, 14, LINKTYPE_LOOP,
    LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
}

PCAP_GLOBAL = {"<": struct.Struct("<IHHiIII"), ">": struct.Struct(">IHHiIII")}
PCAP_RECORD = {"<": struct.Struct("<IIII"), ">": struct.Struct(">IIII")}
NG_BLOCK_HEAD = {"<": struct.Struct("<II"), ">": struct.Struct(">II")}
NG_EPB_FULL = {"<": struct.Struct("<IIIIIII"), ">": struct.Struct(">IIIIIII")}
NG_IDB = {"<": struct.Struct("<HHI"), ">": struct.Struct(">HHI")}
NG_OPT = {"<": struct.Struct("<HH"), ">": struct.Struct(">HH")}
NG_PB = {"<": struct.Struct("<HHIIII"), ">": struct.Struct(">HHIIII")}
U32 = {"<": struct.Struct("<I"), ">": struct.Struct(">I")}
I64 = {"<": struct.Struct("<q"), ">": struct.Struct(">q")}

Packet = tuple[float, int, bytes, int, int]


#: called with (byte offset of the incomplete record/block, bytes of it in the file)
OnTruncated = Callable[[int, int], None]
#: called with (byte offset of a corrupt record/block header, bytes skipped to the next valid one)
OnCorrupt = Callable[[int, int], None]

MAX_CLOCK_STEP = 86400  # a resync candidate's time lies within a day of the last good record's
NG_BLOCK_TYPES = frozenset({1, 2, 3, 4, 5, 6, 9, 10, PCAPNG_SHB})  # pcapng block types a resync may land on


def resync_pcap(buf: bytes, off: int, bo: str, nano: bool, limit: int, last_sec: int | None) -> int:
    """Offset of the next plausible pcap record header after the corrupt one at ``off``:
    captured length within the limit and not above the original length, the sub-second
    field in range, the time within a day of the last good record, and the record after
    it plausible too. -1 when ``buf`` ends before one is found (more data may settle it)."""
    rec = PCAP_RECORD[bo].unpack_from
    sub_max = 1_000_000_000 if nano else 1_000_000
    n = len(buf)

    def plausible(p: int) -> int:
        sec, sub, incl, orig = rec(buf, p)
        if incl > limit or incl > orig or orig > MAX_RECORD * 4 or sub >= sub_max:
            return -1
        if last_sec is not None and abs(sec - last_sec) > MAX_CLOCK_STEP:
            return -1
        return incl

    # The high bytes of both lengths are 0 in any plausible header: a C-speed search for
    # that pair of zeros skips the rest (a Python loop over every offset costs ~0.4 s/MiB).
    hi = 11 if bo == "<" else 8
    p = off + 1
    while p + 16 <= n:
        if limit < 1 << 24:
            m = _HIGH_ZEROS.search(buf, p + hi)
            if m is None:
                return -1
            p = m.start() - hi
            if p + 16 > n:
                return -1
        incl = plausible(p)
        if incl >= 0:
            q = p + 16 + incl
            if q + 16 <= n and plausible(q) >= 0:  # one that runs past the buffer waits for more data
                return p
        p += 1
    return -1


_HIGH_ZEROS = re.compile(rb"\x00[\s\S]{3}\x00")  # the high bytes of captured and original length


def resync_pcapng(buf: bytes, off: int, bo: str) -> int:
    """Offset of the next pcapng block after a corrupt one at ``off`` whose type is known
    and whose leading and trailing lengths agree; -1 when ``buf`` ends before one is found."""
    head = NG_BLOCK_HEAD[bo].unpack_from
    u32 = U32[bo].unpack_from
    n = len(buf)
    p = off + 4
    while p + 12 <= n:
        btype, blen = head(buf, p)
        if btype in NG_BLOCK_TYPES and 12 <= blen <= MAX_RECORD + 64 and not blen % 4 and p + blen <= n:
            if u32(buf, p + blen - 4)[0] == blen:
                return p
        p += 4
    return -1


def read_packets(
    path: str, on_truncated: OnTruncated | None = None, on_corrupt: OnCorrupt | None = None
) -> Iterator[Packet]:
    """Yield every packet of a pcap or pcapng file, in file order.

    A file cut inside its last record (tcpdump killed, disk full) raises
    ``CaptureFormatError`` unless ``on_truncated`` is given: then every complete
    record is yielded and ``on_truncated(offset, bytes_left)`` says where the cut is.
    Likewise a corrupt record or block header mid-file, unless ``on_corrupt`` is
    given: then reading goes on at the next valid one and ``on_corrupt(offset,
    bytes_skipped)`` says what was skipped.
    """
    f = _open(path)
    with f:
        head = f.read(4)
        kind = _kind(path, head)
        if kind == "pcapng":
            yield from _pcapng(path, f, head, on_truncated, on_corrupt)
        else:
            hdr = _pcap_header(path, f, head)
            frac = 1e-9 if hdr.nano else 1e-6
            linktype = hdr.linktype
            rec = PCAP_RECORD[hdr.bo].unpack_from
            limit = hdr.limit
            out: list[Packet] = []
            last = [None]  # seconds of the last good record

            def consume(buf: bytes, base: int) -> int:
                out.clear()
                n = len(buf)
                off = 0
                while off + 16 <= n:
                    sec, sub, incl, _orig = rec(buf, off)
                    if incl > limit:
                        nxt = corrupt_record(path, buf, base, off, hdr, last[0], on_corrupt)
                        if nxt < 0:
                            break
                        off = nxt
                        continue
                    last[0] = sec
                    end = off + 16 + incl
                    if end > n:
                        break
                    out.append((sec + sub * frac, linktype, buf, off + 16, end))
                    off = end
                return off

            for _ in pcap_chunks(path, f, consume, on_truncated):
                yield from out


def corrupt_record(
    path: str, buf: bytes, base: int, off: int, hdr: PcapHeader, last_sec: int | None, on_corrupt: OnCorrupt | None
) -> int:
    """A pcap record header at ``off`` is garbage: raise without ``on_corrupt``; else the
    offset of the next plausible record (reported), or -1 to wait for more data."""
    if on_corrupt is None:
        incl = PCAP_RECORD[hdr.bo].unpack_from(buf, off)[2]
        raise CaptureFormatError(f"{path}: garbage record header (length {incl}) at byte offset {base + off}")
    nxt = resync_pcap(buf, off, hdr.bo, hdr.nano, hdr.limit, last_sec)
    if nxt >= 0:
        on_corrupt(base + off, nxt - off)
    return nxt


@dataclass(frozen=True)
class PcapHeader:
    bo: str  #: struct byte-order character of the records
    nano: bool
    linktype: int
    limit: int  #: largest plausible record length


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot open capture: {exc.strerror}") from exc


def _kind(path: str, head: bytes) -> str:
    if len(head) < 4:
        raise CaptureFormatError(f"{path}: not a capture file: only {len(head)} bytes (at byte offset 0)")
    if struct.unpack("<I", head)[0] == PCAPNG_SHB:
        return "pcapng"
    if struct.unpack("<I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        return "pcap<"
    if struct.unpack(">I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        return "pcap>"
    raise CaptureFormatError(f"{path}: not a pcap or pcapng file (magic 0x{head.hex()} at byte offset 0)")


def open_capture(path: str) -> tuple[str, BinaryIO, PcapHeader | None]:
    """Open a capture: ("pcap", file positioned at the first record, header) or ("pcapng", file at 0, None)."""
    f = _open(path)
    try:
        head = f.read(4)
        kind = _kind(path, head)
        if kind == "pcapng":
            f.seek(0)
            return "pcapng", f, None
        return "pcap", f, _pcap_header(path, f, head)
    except BaseException:
        f.close()
        raise


def _pcap_header(path: str, f: BinaryIO, head: bytes) -> PcapHeader:
    bo = "<" if struct.unpack("<I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    rest = f.read(20)
    if len(rest) < 20:
        raise CaptureFormatError(f"{path}: truncated pcap header at byte offset {4 + len(rest)}")
    magic, _vmaj, _vmin, _tz, _sig, snaplen, network = PCAP_GLOBAL[bo].unpack(head + rest)
    linktype = network & 0x0FFFFFFF
    if linktype not in SUPPORTED_LINKTYPES:
        raise CaptureFormatError(f"{path}: unsupported link type {linktype} (at byte offset 20)")
    return PcapHeader(bo, magic == PCAP_MAGIC_NS, linktype, max(snaplen, MAX_RECORD))


def pcap_chunks(
    path: str, f: BinaryIO, consume: Callable[[bytes, int], int], on_truncated: OnTruncated | None = None,
    chunk_bytes: int | None = None,
) -> Iterator[None]:
    """Feed the records of a pcap file to ``consume(buf, file_offset_of_buf)`` chunk by chunk.

    ``consume`` handles every whole record in ``buf`` and returns the offset of the
    first incomplete one; the rest is carried into the next chunk.  Yields after
    each chunk so a generator consumer can hand records on.
    """
    base = 24
    buf = b""
    read = f.read
    size = CHUNK if chunk_bytes is None else chunk_bytes  # the module's value when called (tests shrink it)
    while True:
        chunk = read(size)
        if not chunk:
            break
        buf = buf + chunk if buf else chunk
        off = consume(buf, base)
        yield
        base += off
        buf = buf[off:]
    if buf:
        if on_truncated is not None:
            on_truncated(base, len(buf))
            return
        raise CaptureFormatError(
            f"{path}: truncated packet record at byte offset {base} ({len(buf)} bytes left, record incomplete)"
        )


class _Iface:
    __slots__ = ("linktype", "div", "offset")

    def __init__(self, linktype: int, div: int, offset: int):
        self.linktype = linktype
        self.div = div  # time stamp units per second
        self.offset = offset


def _pcapng(
    path: str, f: BinaryIO, head: bytes, on_truncated: OnTruncated | None = None, on_corrupt: OnCorrupt | None = None
) -> Iterator[Packet]:
    bo = "<"
    ifaces: list[_Iface] = []
    base = 0
    buf = head
    eof = False
    while True:
        if not eof:
            chunk = f.read(CHUNK)
            if chunk:
                buf = buf + chunk
            else:
                eof = True
        n = len(buf)
        off = 0
        while off + 12 <= n:
            if off + 28 <= n:  # room for an Enhanced Packet Block header: read it in one call
                btype, blen, ifid, th, tl, caplen, _orig = NG_EPB_FULL[bo].unpack_from(buf, off)
            else:
                btype, blen = NG_BLOCK_HEAD[bo].unpack_from(buf, off)
                ifid = th = tl = caplen = 0
            if btype == PCAPNG_SHB:  # the same in both byte orders
                bom = buf[off + 8 : off + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    bo = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    bo = ">"
                else:
                    raise CaptureFormatError(f"{path}: bad pcapng byte-order magic at byte offset {base + off + 8}")
                ifaces = []
                btype, blen = NG_BLOCK_HEAD[bo].unpack_from(buf, off)
            if blen < 12 or blen % 4 or blen > MAX_RECORD + 64:
                if on_corrupt is None:
                    raise CaptureFormatError(
                        f"{path}: garbage pcapng block (type 0x{btype:08x}, length {blen}) at byte offset {base + off}"
                    )
                nxt = resync_pcapng(buf, off, bo)
                if nxt < 0:
                    break  # more data may hold the next valid block; at the end, the rest is a cut
                on_corrupt(base + off, nxt - off)
                off = nxt
                continue
            end = off + blen
            if end > n:
                break
            body = off + 8
            if btype == 6:  # Enhanced Packet Block
                if ifid >= len(ifaces) or body + 20 + caplen > end - 4:
                    if on_corrupt is None:
                        raise CaptureFormatError(f"{path}: bad enhanced packet block at byte offset {base + off}")
                    on_corrupt(base + off, blen)  # its lengths agree: skip just this block
                    off = end
                    continue
                ifc = ifaces[ifid]
                q, r = divmod((th << 32) | tl, ifc.div)
                yield q + r / ifc.div + ifc.offset, ifc.linktype, buf, body + 20, body + 20 + caplen
            elif btype == 3:  # Simple Packet Block: no time stamp
                if ifaces:
                    caplen = min(U32[bo].unpack_from(buf, body)[0], blen - 16)
                    yield 0.0, ifaces[0].linktype, buf, body + 4, body + 4 + caplen
            elif btype == 2:  # obsolete Packet Block
                ifid, _drops, th, tl, caplen, _orig = NG_PB[bo].unpack_from(buf, body)
                if ifid < len(ifaces):
                    ifc = ifaces[ifid]
                    q, r = divmod((th << 32) | tl, ifc.div)
                    yield q + r / ifc.div + ifc.offset, ifc.linktype, buf, body + 20, body + 20 + caplen
            elif btype == 1:  # Interface Description Block
                ifaces.append(_parse_idb(path, buf, body, end - 4, bo, base + off))
            off = end
        base += off
        buf = buf[off:]
        if eof:
            break
    if buf:
        if on_truncated is not None:
            on_truncated(base, len(buf))
            return
        raise CaptureFormatError(
            f"{path}: truncated pcapng block at byte offset {base} ({len(buf)} bytes left, block incomplete)"
        )


def _parse_idb(path: str, buf: bytes, body: int, end: int, bo: str, file_off: int) -> _Iface:
    linktype, _res, _snap = NG_IDB[bo].unpack_from(buf, body)
    if linktype not in SUPPORTED_LINKTYPES:
        raise CaptureFormatError(f"{path}: unsupported link type {linktype} (interface block at byte offset {file_off})")
    div, offset = 1_000_000, 0
    p = body + 8
    while p + 4 <= end:
        code, length = NG_OPT[bo].unpack_from(buf, p)
        if code == 0:
            break
        val = buf[p + 4 : p + 4 + length]
        if code == 9 and length >= 1:  # if_tsresol
            v = val[0]
            div = 2 ** (v & 0x7F) if v & 0x80 else 10**v
        elif code == 14 and length == 8:  # if_tsoffset
            offset = I64[bo].unpack(val)[0]
        p += 4 + length + (-length % 4)
    return _Iface(linktype, div, offset)
