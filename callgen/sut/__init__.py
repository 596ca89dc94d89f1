"""Systems under test and independent peers, started as real processes on loopback.

- ``kamailio``: Kamailio as registrar + proxy (optional digest auth), ``start_kamailio``.
- ``sipp``: SIPp's built-in ``uas``/``uac`` scenarios, ``start_sipp`` / ``SippProcess``.
- pjsua peers proving these harnesses are ``callgen.pjsua.driver.PjsuaAgent`` (``loopback_argv``), as in a run.
- ``ports``, ``process``, ``sipprobe``: free ports, process-group stop, SIP OPTIONS readiness probe.

Every harness binds to 127.0.0.1 on ports found by binding port 0, awaits a
readiness event (never a fixed sleep), and stops its whole process group.
"""
