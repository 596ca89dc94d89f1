"""The streaming reader: file formats, link types, IP versions, broken files."""

from __future__ import annotations

import os

import oracle
import pytest
from capgen import CaptureWriter, RtpSender

from callgen.analysis import analyze_capture
from callgen.analysis.pcapio import read_packets
from callgen.errors import CaptureFormatError


def _write(path, n=50, fmt="pcap", link="ether", v6=False, **kw):
    src, dst = ("::1", "::1") if v6 else ("127.0.0.1", "127.0.0.2")
    s = RtpSender(ssrc=0xCAFE0001, seq=100, ts=0, event_pt=101)
    t = s.audio(1700000000.25, n - 30)
    t = s.digit(t, "5")  # 12 packets
    s.audio(t, 18)
    with CaptureWriter(str(path), fmt=fmt, link=link, **kw) as w:
        for when, pkt in s.packets:
            w.udp(when, src, 40000, dst, 40002, pkt)
    return s


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("link", ["ether", "sll", "sll2", "raw", "null", "loop"])
def test_formats_and_link_types(tmp_path, fmt, link):
    path = tmp_path / f"c.{fmt}"
    _write(path, fmt=fmt, link=link)
    a = analyze_capture(str(path))
    assert a.packets == 50
    [st] = a.rtp_streams
    assert (st.src, st.dst, st.ssrc) == ("127.0.0.1:40000", "127.0.0.2:40002", 0xCAFE0001)
    assert st.packets == 50 and st.lost == 0 and st.expected == 50
    assert a.digits() == "5"
    assert a.first_time == pytest.approx(1700000000.25, abs=1e-6)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_ipv6_nanosecond_big_endian(tmp_path, fmt):
    path = tmp_path / f"v6.{fmt}"
    _write(path, fmt=fmt, v6=True, nano=True, big_endian=True)
    a = analyze_capture(str(path))
    [st] = a.rtp_streams
    assert st.src == "[::1]:40000" and st.packets == 50
    assert a.dtmf[0].start == pytest.approx(1700000000.25 + 0.4, abs=1e-6)
    if oracle.have_tshark():
        [ts] = oracle.rtp_streams(str(path), heuristic=True)
        assert ts.packets == st.packets and ts.ssrc == st.ssrc


def test_truncated_file_names_offset(tmp_path):
    path = tmp_path / "cut.pcap"
    _write(path)
    size = os.path.getsize(path)
    *_, (_t, _lt, buf, start, end) = read_packets(str(path))
    last_record = size - (end - start) - 16
    with open(path, "r+b") as f:
        f.truncate(size - 7)
    for read in (lambda: list(read_packets(str(path))), lambda: analyze_capture(str(path))):
        with pytest.raises(CaptureFormatError) as exc:  # the reader and the checks' analysis refuse a cut file...
            read()
        msg = str(exc.value)
        assert str(path) in msg and "truncated" in msg
        assert f"byte offset {last_record} " in msg
    a = analyze_capture(str(path), partial=True)  # ...asked for, what is complete, and where it ends
    assert a.packets == 49 and a.truncated.offset == last_record


def test_truncated_pcapng(tmp_path):
    path = tmp_path / "cut.pcapng"
    _write(path, fmt="pcapng")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 3)
    with pytest.raises(CaptureFormatError, match=r"truncated pcapng block at byte offset \d+"):
        list(read_packets(str(path)))
    with pytest.raises(CaptureFormatError, match=r"truncated .* at byte offset \d+"):
        analyze_capture(str(path))
    a = analyze_capture(str(path), partial=True)
    assert a.packets == 49 and a.truncated is not None


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"", r"only 0 bytes"),
        (b"hello world, not a capture", r"not a pcap or pcapng file .*byte offset 0"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", r"truncated pcap header"),
    ],
)
def test_garbage(tmp_path, content, pattern):
    path = tmp_path / "junk.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError, match=pattern):
        analyze_capture(str(path))


def test_garbage_record_length(tmp_path):
    path = tmp_path / "bad.pcap"
    _write(path, n=40)
    data = bytearray(path.read_bytes())
    data[24 + 8 : 24 + 12] = (0x7FFFFFF0).to_bytes(4, "little")  # first record's incl_len
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureFormatError, match=r"garbage record header .* at byte offset 24"):
        analyze_capture(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(CaptureFormatError, match="cannot open"):
        analyze_capture(str(tmp_path / "nope.pcap"))


def test_reader_streams_in_chunks(tmp_path, monkeypatch):
    """Records that straddle chunk boundaries come out whole (chunk made tiny)."""
    import callgen.analysis.pcapio as pcapio

    path = tmp_path / "c.pcap"
    _write(path)
    whole = [(t, bytes(b[s:e])) for t, _lt, b, s, e in pcapio.read_packets(str(path))]
    monkeypatch.setattr(pcapio, "CHUNK", 97)
    small = [(t, bytes(b[s:e])) for t, _lt, b, s, e in read_packets(str(path))]
    assert small == whole and len(whole) == 50
    path2 = tmp_path / "c.pcapng"
    _write(path2, fmt="pcapng")
    assert len(list(pcapio.read_packets(str(path2)))) == 50
