"""The local SBC (Kamailio + userspace rtpengine): starts with every switch, answers,
anchors media, and leaves no process behind; the scenario kind reaches it."""

from __future__ import annotations

import os

import pytest

from callgen.errors import UsageError
from callgen.run.localsut import local_systems
from callgen.scenario.loader import load_scenario
from callgen.sut.rtpengine import ng_ping
from callgen.sut.sbc import SbcOptions, SbcProcess
from callgen.sut.sipprobe import sip_options_probe

needs_sbc = pytest.mark.tool("rtpengine", "kamailio")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_offer_flags_and_defines():
    o = SbcOptions(mask_callid=True, srtp_to_rtp=True, transcode=("PCMA", "PCMU"), block_media="caller",
                   block_dtmf="caller")
    assert o.offer_flags().split() == ["replace-origin", "replace-session-connection", "RTP/AVP", "SDES-off",
                                       "codec-mask-PCMA", "codec-transcode-PCMU"]
    d = o.defines()
    assert {"WITH_SBC", "WITH_TOPOH", "BLOCK_MEDIA_CALLER", "BLOCK_DTMF_CALLER"} <= set(d)
    assert "WITH_TOPOH" not in SbcOptions().defines()
    with pytest.raises(UsageError):
        SbcOptions(block_media="bob").validate()
    with pytest.raises(UsageError):
        SbcOptions(block_dtmf="callee").validate()


@needs_sbc
@pytest.mark.parametrize("options", [SbcOptions(), SbcOptions(True, True, ("PCMA", "PCMU"), "caller", "caller"),
                                     SbcOptions(block_dtmf="caller")])
def test_sbc_starts_answers_and_stops_whole(tmp_path, options):
    sbc = SbcProcess(tmp_path, options).start()
    try:
        assert sip_options_probe(sbc.address, sbc.port, 5.0).status == 200
        assert ng_ping(sbc.rtpengine.address, sbc.rtpengine.ng_port, 5.0)
        log = (tmp_path / "kamailio" / "kamailio.log").read_text()
        assert f"rtpengine instance <{sbc.rtpengine.ng_socket}> found" in log
        pids = [sbc.kamailio.pid, sbc.rtpengine.pid]
    finally:
        sbc.stop()
    assert all(_gone(p) for p in pids)


@needs_sbc
def test_rtpengine_does_not_inherit_our_descriptors(tmp_path):
    r, w = os.pipe()  # inheritable on purpose: a daemon holding it would keep a lock/pipe open
    os.set_inheritable(w, True)
    sbc = SbcProcess(tmp_path).start()
    try:
        fds = {os.readlink(f"/proc/{sbc.rtpengine.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{sbc.rtpengine.pid}/fd")}
        assert f"pipe:[{os.fstat(w).st_ino}]" not in fds
    finally:
        sbc.stop()
        os.close(r)
        os.close(w)


SCENARIO = """\
name: t
targets:
  SBC:
    local: {kind: %s%s}
agents:
  alice: {role: caller, proxy: 'sip:${SBC};lr'}
  bob: {role: callee}
calls:
  - from: alice
    to: bob
"""


def test_sbc_switches_reach_the_model(write_yaml):
    s = load_scenario(write_yaml(SCENARIO % ("sbc", ", mask_callid: true, srtp_to_rtp: true, block_media: caller, "
                                                    "transcode: {from: PCMA, to: PCMU}")))
    (t,) = s.local_targets
    assert t.kind == "sbc" and t.sbc.mask_callid and t.sbc.srtp_to_rtp and t.sbc.block_media == "caller"
    assert t.sbc.transcode == ("PCMA", "PCMU") and t.sbc.block_dtmf is None


def test_sbc_switch_on_a_plain_kamailio_is_refused(write_yaml, cli):
    path = write_yaml(SCENARIO % ("kamailio", ", mask_callid: true"))
    r = cli("validate", str(path))
    assert r.status == 2, r.out + r.err
    assert "targets.SBC.local.mask_callid: 'mask_callid' is a switch of kind sbc" in r.err


@needs_sbc
def test_local_systems_starts_and_stops_the_sbc(write_yaml, tmp_path):
    s = load_scenario(write_yaml(SCENARIO % ("sbc", ", mask_callid: true")))
    with local_systems(s, tmp_path) as systems:
        host, port = systems["SBC"]
        assert sip_options_probe(host, port, 5.0).status == 200
    assert sip_options_probe(host, port, 0.3) is None
    assert (tmp_path / "sbc-sbc" / "rtpengine" / "rtpengine.log").is_file()
