"""The sink's fault decisions: deterministic, at the rates asked (pure logic)."""

from __future__ import annotations

from collections import Counter

from voicelens.sink.faults import FaultPlan


def test_first_error_rate_fails_first_attempts_only() -> None:
    plan = FaultPlan(first_error_rate=0.2, seed=7)
    ids = [f"msg_{i}" for i in range(5000)]
    first = Counter(plan.decide(i, 1) for i in ids)
    later = Counter(plan.decide(i, 2) for i in ids)
    assert 0.17 < first["error"] / len(ids) < 0.23
    assert later == {"ok": len(ids)}
    assert [plan.decide(i, 1) for i in ids] == [plan.decide(i, 1) for i in ids]  # repeatable


def test_the_chaos_mix_adds_up() -> None:
    plan = FaultPlan(
        throttle_rate=0.05, hang_rate=0.02, reject_rate=0.02, first_error_rate=0.2, seed=1
    )
    ids = [f"msg_{i}" for i in range(10_000)]
    first = Counter(plan.decide(i, 1) for i in ids)
    share = {k: v / len(ids) for k, v in first.items()}
    assert abs(share["error"] - 0.20) < 0.02
    assert abs(share["throttle"] - 0.05) < 0.01
    assert abs(share["hang"] - 0.02) < 0.007
    assert abs(share["reject"] - 0.02) < 0.007
    assert "error" not in {plan.decide(i, 3) for i in ids}
