"""Learned state (calibration, the rule's spec and parameters) is validated wherever it enters: a
config, `rl.extra`, a saved file, and another replica's shared state (issue 16 D). A bad one is a
clear error naming the field, and a replica that is offered one keeps serving its last good snapshot."""

from __future__ import annotations

import math

import pytest

from semantic_router import Route, RouteLayer
from semantic_router._saved import decode_saved, encode_saved
from semantic_router.config import RouterConfig
from semantic_router.errors import ConfigError
from semantic_router.index.local import LocalIndex
from tests.hash_encoder import HashEncoder

ROUTES = [
    Route(name="greet", utterances=["hello there", "good morning", "hi friend"]),
    Route(name="bye", utterances=["goodbye friend", "see you later"]),
]
GOOD = {"kind": "platt", "a": 4.0, "b": -1.0}

def deep(levels: int) -> list:
    out: list = []
    for _ in range(levels):
        out = [out]
    return out


BAD_LEARNED = {
    "empty isotonic": ({"calibration": {"kind": "isotonic", "xs": [], "ys": []}}, "calibration.xs and .ys"),
    "unknown kind": ({"calibration": {"kind": "sigmoid", "a": 1.0}}, "calibration.kind"),
    "NaN platt a": ({"calibration": {"kind": "platt", "a": math.nan, "b": 0.0}}, "calibration.a must be finite"),
    "string platt b": ({"calibration": {"kind": "platt", "a": 1.0, "b": "x"}}, "calibration.b must be a number"),
    "isotonic out of order": ({"calibration": {"kind": "isotonic", "xs": [0.5, 0.1], "ys": [0.2, 0.9]}},
                              "calibration.xs must be non-decreasing"),
    "isotonic beyond [0, 1]": ({"calibration": {"kind": "isotonic", "xs": [0.1, 0.5], "ys": [0.2, 3.0]}},
                               "calibration.ys must be probabilities"),
    "unknown calibration key": ({"calibration": {"kind": "platt", "a": 1.0, "b": 0.0, "c": 2}}, "only a, b, xs, ys"),
    "unknown rule": ({"rule": {"name": "nope"}}, "extra.rule: rule must be one of"),
    "NaN lam": ({"rule": {"name": "classifier", "lam": math.nan}}, "lam must be within"),
    "huge max_iter": ({"rule": {"name": "classifier", "max_iter": 10**12}}, "max_iter must be within"),
    "too deep": ({"mine": deep(100)}, "nested deeper"),
}


def router(**kwargs) -> RouteLayer:
    return RouteLayer(encoder=HashEncoder(), routes=ROUTES, refresh_interval=float("inf"), **kwargs)


@pytest.mark.parametrize("case", sorted(BAD_LEARNED))
def test_a_replica_refuses_bad_learned_state_and_keeps_serving(case):
    bad, message = BAD_LEARNED[case]
    index = LocalIndex()
    writer = router(index=index, auto_sync="local")
    writer.extra["calibration"] = GOOD
    replica = router(index=index, auto_sync="remote")
    served = replica("hello there")
    assert served.name == "greet" and 0.0 < served.confidence < 1.0
    state = index.read_state()
    state["extra"] = {**state["extra"], **bad}
    state["version"] += 1
    index.write_state(state)
    with pytest.raises(ConfigError, match="extra"):
        replica.refresh()
    with pytest.raises(ConfigError, match=message):
        replica.refresh()
    assert replica("hello there") == served  # the last good snapshot keeps serving
    batch = replica.route_batch(["hello there", "see you later"])
    assert batch[0].name == "greet" and batch[0].confidence == pytest.approx(served.confidence, abs=1e-5)
    with pytest.raises(ConfigError, match=message):
        RouteLayer.from_index(index, encoder=HashEncoder())
    with pytest.raises(ConfigError, match=message):  # a writer never builds on it either
        writer.add(Route(name="new", utterances=["brand new topic"]))


@pytest.mark.parametrize("case", sorted(BAD_LEARNED))
def test_bad_learned_state_is_refused_in_a_config_and_in_rl_extra(case):
    bad, message = BAD_LEARNED[case]
    rl = router()
    data = rl.to_dict()
    data["extra"] = {**data["extra"], **bad}
    with pytest.raises(ConfigError, match=message):
        RouterConfig.parse(data)
    with pytest.raises(ConfigError, match=message):
        RouteLayer.from_config(data, encoder=HashEncoder())
    key, value = next(iter(bad.items()))
    before = (rl.version, dict(rl.extra), rl.rule.spec())
    with pytest.raises(ValueError, match=message):
        rl.extra[key] = value
    assert (rl.version, dict(rl.extra), rl.rule.spec()) == before  # nothing changed
    assert rl("hello there").confidence is None


@pytest.mark.parametrize("case", ["empty isotonic", "NaN platt a", "unknown rule", "NaN lam"])
def test_bad_learned_state_is_refused_in_a_saved_file(tmp_path, case):
    bad, message = BAD_LEARNED[case]
    path = tmp_path / "router.pkl"
    router().save(path)
    payload = decode_saved(path.read_bytes(), str(path))
    payload["config"]["extra"] = {**payload["config"]["extra"], **bad}
    path.write_bytes(encode_saved({k: v for k, v in payload.items() if k not in ("format", "version")}))
    with pytest.raises(ConfigError, match=message):
        RouteLayer.load(path, encoder=HashEncoder())


def test_learned_state_set_through_rl_extra_takes_effect():
    rl = router(rule="classifier")
    rl.extra["calibration"] = GOOD
    assert 0.0 < rl("hello there").confidence < 1.0  # before issue 16: stored, never used
    del rl.extra["calibration"]
    assert rl("hello there").confidence is None
    rl.extra["rule"] = {"name": "centroid"}
    assert rl.rule_name == "centroid" and rl.extra["rule"] == {"name": "centroid"}
    assert rl("see you later").name == "bye"


def test_a_platt_calibration_never_overflows():
    rl = router()
    rl.extra["calibration"] = {"kind": "platt", "a": -5000.0, "b": 0.0}
    assert rl("hello there").confidence == pytest.approx(0.0, abs=1e-12)
