"""A load's calls through a system under test (an SBC, a B2BUA, a proxy), proven on each leg.

A load call placed through a SUT has two legs: the caller's (caller <-> SUT: the
dialog the caller's INVITE started) and the callee's (SUT <-> callee: the dialog in
which the callee agent received an INVITE).  Each leg is found by the agent's own
SIP address, as for a single call (``callgen.verdict.legs``); with hundreds of calls
up, the callee's leg of *this* call is then joined to the caller's leg by, in order:

1. ``header``: a load header whose value holds ``{n}`` (``headers: {X-Load-Call: "c{n}"}``)
   arrived on the callee's INVITE with this call's value.  Exact, and survives any
   SUT that passes headers on, including a B2BUA that rewrites Call-ID, tags and CSeq;
2. ``call-id``: the SUT kept the caller's Call-ID (a proxy without topology hiding);
3. ``from-tag``: the callee's INVITE carries the caller's From tag (a proxy keeps it,
   topoh masking the Call-ID too; pjsua draws a new random tag per call);
4. ``order``: the first callee INVITE to that agent no earlier call took, sent after
   this call's INVITE and before its final response.  Only calls whose set-ups overlap
   in time can be swapped this way: a SUT that rewrites everything should be given a
   ``{n}`` header.

Each join key is taken only from INVITEs that reached the call's own callee agent and
that no earlier call took.  On each leg: its final code, ACK, BYE answered 200, RTP both
ways by that leg's 5-tuples (from its own SDP) that began between its INVITE and its
BYE, and across the middle the packets relayed against those sent.  Digits count once,
on the receiver's (callee's) leg; the caller's leg shows that they left the caller.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream, SipMessage
from callgen.run.plan import process_names
from callgen.scenario.model import Load
from callgen.verdict.legchecks import DEFAULT_RELAY_LOSS_PCT
from callgen.verdict.legs import CALLEE, CALLER, _initial, _tag, agent_addresses, restrict, sdp_addresses
from callgen.verdict.media import direction_summary, final_response, first_invite
from callgen.verdict.mediaindex import MediaIndex, MediaLookup
from callgen.verdict.result import CheckResult, check

#: how the callee's leg was joined to the caller's (see the module's doc)
BY_HEADER, BY_CALL_ID, BY_FROM_TAG, BY_ORDER = "header", "call-id", "from-tag", "order"
#: without a final response, a callee INVITE this long after the caller's may still be its own (timer B)
NO_ANSWER_WINDOW_S = 32.0
#: failing calls named per leg check
NAMED_CALLS = 10


@dataclass(frozen=True)
class LegFlow:
    """One direction of RTP on one leg (the shape of a load row's ``rtp_*`` fields)."""

    packets: int
    loss_pct: float | None
    jitter_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {"packets": self.packets, "loss_pct": _round(self.loss_pct), "jitter_ms": _round(self.jitter_ms)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LegFlow:
        return cls(int(d["packets"]), d.get("loss_pct"), d.get("jitter_ms"))

    @classmethod
    def of(cls, streams: list[RtpStream]) -> LegFlow:
        if not streams:
            return cls(0, None, None)
        packets, expected, lost, jitter = direction_summary(tuple(streams))
        return cls(packets, 100.0 * lost / expected if expected else 0.0, None if math.isnan(jitter) else jitter)


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


@dataclass(frozen=True)
class LoadLeg:
    """What one leg of a load call showed, and whether that proves the leg."""

    role: str  #: "caller" (caller <-> SUT) or "callee" (SUT <-> callee)
    agent: str  #: the agent whose leg it is
    peer: str  #: the SUT's name
    call_id: str | None  #: this leg's own Call-ID (None: the leg was not found)
    final_code: int | None
    ack: bool
    bye_answered: bool
    forward: LegFlow  #: caller -> callee on this leg
    backward: LegFlow  #: callee -> caller on this leg
    dtmf_seen: str  #: RFC 4733 digits on this leg toward the callee
    proven: bool
    why: tuple[str, ...] = ()
    joined_by: str = ""  #: the callee's leg: how it was joined to the caller's (BY_*)

    def describe(self) -> str:
        """``bob's leg (SBC <-> bob)``."""
        pair = f"{self.agent} <-> {self.peer}" if self.role == CALLER else f"{self.peer} <-> {self.agent}"
        return f"{self.agent}'s leg ({pair})"

    def label(self, forward: bool) -> str:
        """``alice -> SBC`` for the caller->callee direction of the caller's leg."""
        a, b = (self.agent, self.peer) if self.role == CALLER else (self.peer, self.agent)
        return f"{a} -> {b}" if forward else f"{b} -> {a}"

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "agent": self.agent, "peer": self.peer, "call_id": self.call_id,
                "final_code": self.final_code, "ack": self.ack, "bye_answered": self.bye_answered,
                "rtp_caller_to_callee": self.forward.to_json(), "rtp_callee_to_caller": self.backward.to_json(),
                "dtmf_seen": self.dtmf_seen, "verdict": "proven" if self.proven else "unproven", "why": list(self.why),
                "joined_by": self.joined_by}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoadLeg:
        return cls(str(d["role"]), str(d["agent"]), str(d["peer"]), d.get("call_id"), d.get("final_code"),
                   bool(d.get("ack")), bool(d.get("bye_answered")), LegFlow.from_json(d["rtp_caller_to_callee"]),
                   LegFlow.from_json(d["rtp_callee_to_caller"]), str(d.get("dtmf_seen", "")), d.get("verdict") == "proven",
                   tuple(d.get("why", ())), str(d.get("joined_by", "")))


@dataclass(frozen=True)
class FarInvite:
    """An INVITE that arrived at a callee agent: the start of some call's callee leg."""

    time: float
    agent: str  #: the callee agent it reached
    dialog: Dialog  #: the dialog under its Call-ID (both legs, when the SUT kept the Call-ID)
    invite: SipMessage
    from_tag: str


@dataclass
class FarLegIndex:
    """Every callee leg's first INVITE, indexed by each join key; each is taken by one call at most."""

    callees: dict[str, frozenset[str]]  #: callee agent -> its SIP addresses
    header_names: tuple[str, ...] = ()  #: load headers whose value holds ``{n}``
    by_header: dict[tuple[str, str], FarInvite] = field(default_factory=dict)
    by_call_id: dict[tuple[str, str], FarInvite] = field(default_factory=dict)
    by_from_tag: dict[tuple[str, str], FarInvite] = field(default_factory=dict)
    by_agent: dict[str, list[FarInvite]] = field(default_factory=dict)

    @classmethod
    def build(cls, analysis: CaptureAnalysis, callees: dict[str, frozenset[str]], header_names: tuple[str, ...] = ()
              ) -> FarLegIndex:
        index = cls(callees, header_names)
        for d in analysis.dialogs:
            index.add_dialog(d)
        return index

    def add_dialog(self, d: Dialog) -> None:
        """Every callee leg a dialog starts (one per callee agent: a retransmitted INVITE starts nothing new)."""
        owner = {addr: name for name, addrs in self.callees.items() for addr in addrs}
        seen: set[str] = set()
        for m in d.messages:
            agent = owner.get(m.dst)
            if agent is None or agent in seen or not _initial(m):
                continue
            seen.add(agent)
            self.add(FarInvite(m.time, agent, d, m, _tag(m.header("From"))))

    def add(self, far: FarInvite) -> None:
        for name in self.header_names:
            value = far.invite.header(name)
            if value is not None:
                self.by_header.setdefault((name.lower(), value), far)
        self.by_call_id.setdefault((far.agent, far.dialog.call_id), far)
        if far.from_tag:
            self.by_from_tag.setdefault((far.agent, far.from_tag), far)
        bisect.insort(self.by_agent.setdefault(far.agent, []), far, key=lambda f: f.time)

    def _take(self, far: FarInvite) -> None:
        """``far`` is a call's callee leg now: the index forgets it, so no other call can take it (and a
        load proven while it runs keeps only the legs not joined yet)."""
        keys = [(name.lower(), far.invite.header(name)) for name in self.header_names]
        keys += [(far.agent, far.dialog.call_id), (far.agent, far.from_tag)]
        for by in (self.by_header, self.by_call_id, self.by_from_tag):
            for key in keys:
                if by.get(key) is far:
                    del by[key]
        invites = self.by_agent.get(far.agent, [])
        if far in invites:
            invites.remove(far)

    def join(self, callee: str, invite: SipMessage, call_id: str, final_time: float | None,
             header_values: tuple[tuple[str, str], ...] = ()) -> tuple[FarInvite, str] | None:
        """The callee leg of the call whose caller sent ``invite`` (see the module's doc for the order)."""
        candidates = [(self.by_header.get((name.lower(), value)), BY_HEADER) for name, value in header_values
                      if name.lower() in {h.lower() for h in self.header_names}]
        candidates += [(self.by_call_id.get((callee, call_id)), BY_CALL_ID)]
        tag = _tag(invite.header("From"))
        if tag:
            candidates += [(self.by_from_tag.get((callee, tag)), BY_FROM_TAG)]
        for far, how in candidates:
            if far is not None and far.agent == callee:
                self._take(far)
                return far, how
        far = self._by_order(callee, invite.time, final_time)
        if far is None:
            return None
        self._take(far)
        return far, BY_ORDER

    def _by_order(self, callee: str, start: float, final_time: float | None) -> FarInvite | None:
        invites = self.by_agent.get(callee, [])
        end = final_time if final_time is not None else start + NO_ANSWER_WINDOW_S
        k = bisect.bisect_left(invites, start, key=lambda f: f.time)
        far = invites[k] if k < len(invites) else None
        return far if far is not None and far.time <= end else None


def caller_leg_dialog(d: Dialog, caller: frozenset[str]) -> Dialog:
    """The caller's leg only: a SUT that keeps the Call-ID puts both legs under it."""
    inv = first_invite(d)
    return restrict(d, inv, caller) if inv is not None else d


def callee_leg(far: FarInvite, how: str, callee_addresses: frozenset[str], sut: str, media: MediaLookup,
               digits: str) -> LoadLeg:
    """What the callee's leg showed; ``proven`` and ``why`` are filled by ``prove``."""
    leg = restrict(far.dialog, far.invite, callee_addresses)
    bye = next((m for m in leg.messages if m.method == "BYE"), None)
    window = (far.invite.time, bye.time if bye is not None else math.inf)
    sut_side, agent_side = sdp_addresses(leg)  # the SUT sent the INVITE: it is this leg's initiator
    fwd, bwd = media.flow(agent_side, window, src=sut_side), media.flow(sut_side, window, src=agent_side)
    seen = media.digits(agent_side, window, src=sut_side) if digits else ""
    return LoadLeg(CALLEE, far.agent, sut, leg.call_id, leg.final_code, any(m.method == "ACK" for m in leg.messages),
                   any(m.status == 200 and m.cseq_method == "BYE" for m in leg.messages), LegFlow.of(fwd),
                   LegFlow.of(bwd), seen, False, (), how)


def relay_why(sent: int, got: int, tol_pct: float, toward: str, label: str) -> str | None:
    """Across the middle: what the near leg carried must arrive on the far leg."""
    if got >= 1 and got >= sent * (1 - tol_pct / 100.0):
        return None
    return f"the SUT relayed {got} of {sent} packets {label}: media toward {toward} went missing"


def prove(near: LoadLeg, far: LoadLeg, digits: str, tol_pct: float) -> tuple[LoadLeg, LoadLeg]:
    """Each leg proven on its own, and across the middle (the far leg of a direction holds its loss)."""
    near_why, far_why = list(near.why), []
    answered = near.final_code is not None and 200 <= near.final_code < 300
    if far.final_code is None:
        far_why.append("no final response")
    elif answered and not 200 <= far.final_code < 300:
        far_why.append(f"final {far.final_code}, while the caller's leg got {near.final_code}")
    if answered and far.final_code is not None and 200 <= far.final_code < 300:
        if not far.ack:
            far_why.append("no ACK")
        if not far.bye_answered:
            far_why.append("no BYE answered 200")
        if far.forward.packets == 0 or far.backward.packets == 0:
            far_why.append(f"RTP {far.forward.packets} packets {far.label(True)}, {far.backward.packets} {far.label(False)}")
        fwd = relay_why(near.forward.packets, far.forward.packets, tol_pct, far.agent,
                        f"caller->callee ({near.label(True)}, {far.label(True)})")
        bwd = relay_why(far.backward.packets, near.backward.packets, tol_pct, near.agent,
                        f"callee->caller ({far.label(False)}, {near.label(False)})")
        far_why += [fwd] if fwd else []
        near_why += [bwd] if bwd else []
        if digits and far.dtmf_seen != digits:
            far_why.append(f"DTMF {far.dtmf_seen or 'none'} instead of its own {digits}")
    return (dataclasses.replace(near, proven=not near_why, why=tuple(near_why)),
            dataclasses.replace(far, proven=not far_why, why=tuple(far_why)))


def missing_leg(callee: str, sut: str, addresses: frozenset[str]) -> LoadLeg:
    none = LegFlow(0, None, None)
    return LoadLeg(CALLEE, callee, sut, None, None, False, False, none, none, "", False,
                   (f"no INVITE reached {callee} ({', '.join(sorted(addresses))}) for it",))


def relay_tolerance(load: Load) -> float:
    return load.expect.max_loss_pct if load.expect.max_loss_pct is not None else DEFAULT_RELAY_LOSS_PCT


def _named(rows: list, role: str) -> str:
    shown = ", ".join(f"call {r.index} ({_why(r, role)})" for r in rows[:NAMED_CALLS])
    more = len(rows) - NAMED_CALLS
    return shown + (f" and {more} more" if more > 0 else "")


def _why(row, role: str) -> str:
    leg = next((g for g in row.legs if g.role == role), None)
    return "; ".join(leg.why) if leg is not None else "no leg"


def leg_checks(load: Load, rows: tuple) -> list[CheckResult]:
    """Through a SUT: per leg, the share of calls proven on it (``load.caller_leg.proven_pct``,
    ``load.callee_leg.proven_pct``), the calls that fail on it named with why."""
    relayed = [r for r in rows if r.legs]
    if not relayed:
        return []
    n = len(rows)
    out = []
    for role in (CALLER, CALLEE):
        legs = [next(g for g in r.legs if g.role == role) for r in relayed]
        bad = [r for r in rows if not r.legs or not next(g for g in r.legs if g.role == role).proven]
        pct = 100.0 * (n - len(bad)) / n if n else 0.0
        names = sorted({g.describe() for g in legs})
        where = names[0] if len(names) == 1 else f"the {role}s' legs"
        out.append(check(f"load.{role}_leg.proven_pct", n > 0 and pct >= load.expect.proven_pct_min,
                         f">= {load.expect.proven_pct_min:g}% of calls proven on {where}",
                         f"{pct:.2f}% ({n - len(bad)} of {n})" + (f"; unproven on it: {_named(bad, role)}" if bad else ""),
                         f"calls the capture does not prove on {where}"))
    return out


def legs_summary(rows: tuple) -> dict[str, Any]:
    """``summary.load.legs`` through a SUT: per leg proven count and %, and how the legs were joined."""
    relayed = [r for r in rows if r.legs]
    if not relayed:
        return {}
    n = len(rows)
    out: dict[str, Any] = {}
    for role in (CALLER, CALLEE):
        proven = sum(g.proven for r in relayed for g in r.legs if g.role == role)
        out[role] = {"proven": proven, "proven_pct": _round(100.0 * proven / n if n else 0.0)}
    joined: dict[str, int] = {}
    for r in relayed:
        how = next(g.joined_by for g in r.legs if g.role == CALLEE) or "not found"
        joined[how] = joined.get(how, 0) + 1
    out["joined_by"] = dict(sorted(joined.items()))
    return {"legs": out}


def final_time(d: Dialog) -> float | None:
    final = final_response(d)
    return final.time if final is not None else None


def _processes(name: str, agents: dict[str, frozenset[str]]) -> frozenset[str]:
    """The SIP addresses of all of an agent's pjsua processes (a load's agent may run as several)."""
    return frozenset().union(*(agents[p] for p in process_names(name, agents)))


class LoadThroughSut:
    """The per-leg proof of a load's calls: ``near`` gives the caller's leg of a call's dialog
    (what the one-leg row is computed on), ``prove_row`` adds the callee's leg and the verdict
    of both.  A call straight from agent to agent (no SUT) keeps its one-leg row unchanged.

    Over one analysis (``LoadThroughSut(scenario, evidence, analysis)``) the callee legs are
    indexed on the first relayed call; a load proven file by file while it runs
    (``callgen.verdict.loadprover``) builds it with ``for_addresses`` and feeds the index
    (``far``) as dialogs appear, the media (``media``) and each dialog's latest state
    (``dialog_of``) from its rolling scan."""

    def __init__(self, scenario, evidence, analysis: CaptureAnalysis | None):
        ag = evidence.agent(scenario.load.caller)
        present = {a.name: a for a in evidence.agents}  # a callee without evidence of its own has no leg to find
        self._setup(scenario, agent_addresses(ag.address, ag.sip_port),
                    {name: agent_addresses(a.address, a.sip_port) for name, a in present.items()})
        self._analysis = analysis

    @classmethod
    def for_addresses(cls, scenario, caller: frozenset[str], agents: dict[str, frozenset[str]], media,
                      dialog_of: Callable[[str], Dialog | None]) -> LoadThroughSut:
        self = cls.__new__(cls)
        self._setup(scenario, caller, agents)
        self._analysis = None
        self.far = FarLegIndex(self.callees, tuple(name for name, _ in self.headers))
        self.media, self.dialog_of = media, dialog_of
        return self

    def _setup(self, scenario, caller: frozenset[str], agents: dict[str, frozenset[str]]) -> None:
        load = scenario.load
        self.caller_name = load.caller
        self.caller = caller | _processes(load.caller, agents)
        self.callees = {name: addrs for name in dict.fromkeys(load.callees) if (addrs := _processes(name, agents))}
        self.headers = tuple((name, value) for name, value in load.headers if "{n}" in value)
        self.targets = {value: name for name, value in scenario.resolved_targets}
        self.tolerance = relay_tolerance(load)
        self.far: FarLegIndex | None = None
        self.media = None
        self.dialog_of: Callable[[str], Dialog | None] | None = None

    def relayed(self, d: Dialog | None, callee: str) -> bool:
        inv = first_invite(d) if d is not None else None
        return inv is not None and callee in self.callees and inv.dst not in self.callees[callee]

    def near(self, d: Dialog | None, callee: str) -> Dialog | None:
        return caller_leg_dialog(d, self.caller) if d is not None and self.relayed(d, callee) else d

    def _index(self) -> tuple[FarLegIndex, MediaLookup]:
        if self.far is None or self.media is None:  # built once, on the first relayed call
            self.far = FarLegIndex.build(self._analysis, self.callees, tuple(name for name, _ in self.headers))
            self.media = MediaIndex(self._analysis)
        return self.far, self.media

    def prove_row(self, rec, d: Dialog | None, row):
        """``row`` (the caller's leg, computed on ``near(d)``) with both legs proven."""
        if d is None or not self.relayed(d, rec.callee):
            return row
        far_index, media = self._index()
        inv = first_invite(d)
        sut = self.targets.get(inv.dst, inv.dst)
        near = LoadLeg(CALLER, self.caller_name, sut, row.call_id, row.final_code, row.ack,
                       row.bye_answered, LegFlow(row.forward.packets, row.forward.loss_pct, row.forward.jitter_ms),
                       LegFlow(row.backward.packets, row.backward.loss_pct, row.backward.jitter_ms), row.dtmf_seen,
                       row.proven, row.why)
        values = tuple((name, value.replace("{n}", str(rec.index))) for name, value in self.headers)
        got = far_index.join(rec.callee, inv, d.call_id, final_time(d), values)
        if got is None:
            far = missing_leg(rec.callee, sut, self.callees[rec.callee])
            near = dataclasses.replace(near, proven=not near.why)
        else:
            found, how = got
            if self.dialog_of is not None:  # the index holds the dialog as it was when its INVITE was read
                found = dataclasses.replace(found, dialog=self.dialog_of(found.dialog.call_id) or found.dialog)
            far = callee_leg(found, how, self.callees[rec.callee], sut, media, rec.digits)
            near, far = prove(near, far, rec.digits, self.tolerance)
        why = tuple(f"{leg.describe()}: {w}" for leg in (near, far) for w in leg.why)
        return dataclasses.replace(row, legs=(near, far), dtmf_seen=far.dtmf_seen if rec.digits else row.dtmf_seen,
                                   proven=near.proven and far.proven, why=why)
