"""The join of a load call's two legs through a SUT (callgen.verdict.loadlegs), without the Call-ID.

Hundreds of calls are up at once and a topology-hiding SUT gives each callee leg a Call-ID of
its own, so the callee's INVITE is joined to the caller's by the per-call ``{n}`` header, the
kept Call-ID, the kept From tag, and only then by time order; each callee leg is taken once.
"""

from __future__ import annotations

from types import SimpleNamespace

from callgen.analysis import SipMessage, build_dialog
from callgen.verdict.loadlegs import (
    BY_CALL_ID,
    BY_FROM_TAG,
    BY_HEADER,
    BY_ORDER,
    FarLegIndex,
    LegFlow,
    LoadLeg,
    prove,
)

ALICE, SBC, BOB, BUSY = "127.0.0.13:34000", "127.0.0.1:5060", "127.0.0.13:34002", "127.0.0.13:34004"
CALLEES = {"bob": frozenset({BOB}), "busy": frozenset({BUSY})}


def invite(t: float, src: str, dst: str, call_id: str, tag: str, **headers: str) -> SipMessage:
    hdrs = (("From", f"<sip:alice@127.0.0.13>;tag={tag}"), ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", call_id),
            *((k.replace("_", "-"), v) for k, v in headers.items()))
    return SipMessage(t, src, dst, "udp", "INVITE", None, "", "INVITE", call_id, hdrs, b"", None, 1, "sip:bob@127.0.0.1")


def analysis(*far: SipMessage) -> SimpleNamespace:
    by_id: dict[str, list[SipMessage]] = {}
    for m in far:
        by_id.setdefault(m.call_id, []).append(m)
    return SimpleNamespace(dialogs=[build_dialog(cid, msgs) for cid, msgs in by_id.items()])


def test_the_kept_from_tag_joins_calls_the_sbc_forwarded_out_of_order():
    a, b = invite(10.000, ALICE, SBC, "ca", "ta"), invite(10.001, ALICE, SBC, "cb", "tb")
    # topoh: masked Call-IDs; the SBC forwarded b first (two workers)
    index = FarLegIndex.build(analysis(invite(10.002, SBC, BOB, "!!:x", "tb"), invite(10.003, SBC, BOB, "!!:y", "ta")), CALLEES)
    got_a, got_b = index.join("bob", a, "ca", 10.01), index.join("bob", b, "cb", 10.01)
    assert (got_a[0].dialog.call_id, got_a[1]) == ("!!:y", BY_FROM_TAG)
    assert (got_b[0].dialog.call_id, got_b[1]) == ("!!:x", BY_FROM_TAG)  # order alone would have swapped them


def test_the_n_header_joins_through_a_b2bua_that_rewrites_call_id_and_tags():
    a = invite(10.000, ALICE, SBC, "ca", "ta", X_Load_Call="c7")
    b = invite(10.001, ALICE, SBC, "cb", "tb", X_Load_Call="c8")
    far = analysis(invite(10.002, SBC, BOB, "b2b-1", "new1", X_Load_Call="c8"), invite(10.003, SBC, BOB, "b2b-2", "new2", X_Load_Call="c7"))
    index = FarLegIndex.build(far, CALLEES, ("X-Load-Call",))
    got_a = index.join("bob", a, "ca", 10.01, (("X-Load-Call", "c7"),))
    got_b = index.join("bob", b, "cb", 10.01, (("X-Load-Call", "c8"),))
    assert (got_a[0].dialog.call_id, got_a[1]) == ("b2b-2", BY_HEADER)
    assert (got_b[0].dialog.call_id, got_b[1]) == ("b2b-1", BY_HEADER)


def test_a_kept_call_id_joins_both_legs_under_one_dialog():
    a = invite(10.000, ALICE, SBC, "same", "ta")
    index = FarLegIndex.build(analysis(a, invite(10.002, SBC, BOB, "same", "ta"), invite(10.004, SBC, BOB, "same", "ta")), CALLEES)
    assert len(index.by_agent["bob"]) == 1  # a retransmitted INVITE starts no second leg
    far, how = index.join("bob", a, "same", 10.01)
    assert how == BY_CALL_ID and far.invite.src == SBC and far.time == 10.002  # the caller's own INVITE is no callee leg
    assert index.by_agent["bob"] == [] and not index.by_call_id  # a joined leg is forgotten: no other call takes it


def test_without_keys_the_order_joins_each_call_to_the_first_free_leg_within_its_setup():
    calls = [invite(10.0 + k, ALICE, SBC, f"c{k}", f"t{k}") for k in range(3)]
    far = analysis(invite(10.004, SBC, BUSY, "r0", "z0"),  # another callee agent's INVITE is never bob's
                   invite(10.005, SBC, BOB, "r1", "z1"), invite(11.005, SBC, BOB, "r2", "z2"))
    index = FarLegIndex.build(far, CALLEES)
    got = [index.join("bob", c, c.call_id, c.time + 0.01) for c in calls]
    assert [(g[0].dialog.call_id, g[1]) if g else None for g in got[:2]] == [("r1", BY_ORDER), ("r2", BY_ORDER)]
    assert got[2] is None  # no INVITE reached bob within call 2's set-up: its callee leg is missing
    assert index.join("busy", calls[0], "c0", 10.01)[0].dialog.call_id == "r0"
    assert index.join("busy", calls[1], "c1", 11.01) is None  # each callee leg is taken once


def test_media_the_sut_dropped_toward_bob_fails_on_bobs_leg_only():
    flow, cut = LegFlow(150, 0.0, 1.0), LegFlow(48, 0.0, 1.0)
    near = LoadLeg("caller", "alice", "SBC", "ca", 200, True, True, flow, flow, "007#", True)
    far = LoadLeg("callee", "bob", "SBC", "!!:x", 200, True, True, cut, flow, "007#", False, (), BY_FROM_TAG)
    near, far = prove(near, far, "007#", 1.0)
    assert near.proven and not far.proven
    assert far.why == ("the SUT relayed 48 of 150 packets caller->callee (alice -> SBC, SBC -> bob): media toward bob went missing",)
    assert far.describe() == "bob's leg (SBC <-> bob)"
    # the other way: what bob sent did not reach alice, which fails on alice's leg
    near2, far2 = prove(LoadLeg(**{**near.__dict__, "backward": LegFlow(0, None, None)}), LoadLeg(**{**far.__dict__, "forward": flow}),
                        "007#", 1.0)
    assert far2.proven and not near2.proven and "media toward alice went missing" in near2.why[0]
