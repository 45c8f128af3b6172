"""Record ids: stable, UUID-shaped, and distinct for every distinct (route, utterance) pair."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semantic_router.ids import legacy_record_id, legacy_record_ids, record_id, record_ids


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


# Ids are a persisted format (saved routers, shared indexes): these are the values id scheme 2 gave
# before `record_ids` computed them in batches; any change here needs a state-version migration.
PINNED = [
    ("greeting", "hello there", "4ff2eacd-8b74-8f51-963c-f90927c944f8"),
    ("a", "b\x1fc", "db27eed4-c89b-82d6-9b4d-6eb8908b0fa1"),
    ("a\x1fb", "c", "1c8bd3d9-8515-84d8-81ec-97edadef041c"),
    ("r\x00", "\x00u", "a18517a9-fe6e-8a80-9285-63f4d949d3d0"),
    ("emoji \U0001F600", "\U0001D11E clef", "757906c4-9626-8a05-8c1a-5a985195da02"),
    ("\ud800", "x", "90342e28-4f64-8c58-8ff8-841a2b19126e"),
    ("", "", "5e253af5-43ac-8a87-a922-e6ea0e60324e"),
    ('quote"\\', "tab\t\n\u2028", "5c66c839-135d-8517-b55c-6c778b099fb6"),
    ("caf\u00e9", "na\u00efve \u00fcber", "b6db284e-d85e-883a-85d3-24513533c0a7"),
    ("route-00042", "u4242", "d5835ba6-c5f7-8567-b0f3-0d8fef741d75"),
]


@pytest.mark.parametrize(("route", "utterance", "expected"), PINNED)
def test_ids_keep_their_persisted_values(route, utterance, expected):
    assert record_id(route, utterance) == expected
    assert record_ids(route, ["first", utterance, "last"])[1] == expected


def test_legacy_ids_keep_their_persisted_values():
    assert legacy_record_id("greeting", "hello there") == "dd6a938c-e094-5ef3-99e0-6fa77411459b"
    assert legacy_record_ids("emoji \U0001F600", ["x", "\U0001D11E clef"])[1] == "68b7b9c0-a1d9-52e2-a4b9-486cb250d8f6"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=6), st.lists(st.text(max_size=6), max_size=4))
def test_batch_ids_equal_single_ids(route, utterances):
    assert record_ids(route, utterances) == [record_id(route, u) for u in utterances]
    parsed = [uuid.UUID(i) for i in record_ids(route, utterances)]
    assert all(p.version == 8 and p.variant == uuid.RFC_4122 for p in parsed)


def test_batch_refuses_non_strings_naming_the_type():
    with pytest.raises(TypeError, match="int"):
        record_ids("a", ["ok", 5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="bytes"):
        record_ids(b"a", ["ok"])  # type: ignore[arg-type]
