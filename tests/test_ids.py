"""Record ids: stable, UUID-shaped, and distinct for every distinct (route, utterance) pair."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semantic_router.ids import legacy_record_id, record_id


def test_separator_in_names_no_longer_collides():
    # scheme 1 joined the two with \x1f: these two different records shared one id
    assert legacy_record_id("a", "b\x1fc") == legacy_record_id("a\x1fb", "c")
    assert record_id("a", "b\x1fc") != record_id("a\x1fb", "c")


def test_ids_are_stable_rfc_uuids():
    rid = record_id("greeting", "hello there")
    assert rid == record_id("greeting", "hello there")
    parsed = uuid.UUID(rid)
    assert str(parsed) == rid and parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert rid != legacy_record_id("greeting", "hello there")


def test_lone_surrogates_get_ids_too():
    assert record_id("\ud800", "x") != record_id("\ud801", "x")


def test_non_strings_are_refused():
    with pytest.raises(TypeError, match="strings"):
        record_id("a", 5)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=6), st.text(max_size=6), st.text(max_size=6), st.text(max_size=6))
def test_distinct_pairs_get_distinct_ids(r1, u1, r2, u2):
    assert (record_id(r1, u1) == record_id(r2, u2)) == ((r1, u1) == (r2, u2))
