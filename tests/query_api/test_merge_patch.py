"""merge_patch against RFC 7396: its examples (section 3, appendix A) and its laws, generated."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbacks.configs import merge_patch

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=4)


def _json(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=4)

    return st.recursive(leaves, containers, max_leaves=20)


JSON = _json(SCALARS)
OBJECTS = st.dictionaries(st.text(max_size=2), JSON, max_size=5)
NOT_OBJECTS = JSON.filter(lambda value: not isinstance(value, dict))
# What a merge patch can produce: no null as a member of an object (null means remove).
NULL_FREE = _json(SCALARS.filter(lambda value: value is not None))
NULL_FREE_OBJECTS = st.dictionaries(st.text(max_size=2), NULL_FREE, max_size=5)


# RFC 7396 appendix A: original, patch, result.
APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]
# RFC 7396 section 3.
SECTION_3 = (
    {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    },
    {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    },
    {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    },
)


@pytest.mark.parametrize(("original", "patch", "result"), [*APPENDIX_A, SECTION_3])
def test_the_rfc_examples(original: Any, patch: Any, result: Any) -> None:
    assert merge_patch(original, patch) == result


@given(OBJECTS)
def test_an_empty_patch_changes_nothing(target: dict[str, Any]) -> None:
    assert merge_patch(target, {}) == target


@given(JSON, NOT_OBJECTS)
def test_a_patch_that_is_not_an_object_replaces_the_target(target: Any, patch: Any) -> None:
    assert merge_patch(target, patch) == patch


@given(JSON, JSON)
def test_applying_a_patch_twice_is_applying_it_once(target: Any, patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(JSON, JSON)
def test_neither_argument_is_changed(target: Any, patch: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    merge_patch(target, patch)
    assert (target, patch) == (target_before, patch_before)


@given(OBJECTS, OBJECTS)
def test_each_member_is_kept_removed_replaced_or_merged(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    result = merge_patch(target, patch)
    for name in target.keys() - patch.keys():
        assert result[name] == target[name]  # not named: kept
    for name, value in patch.items():
        if value is None:
            assert name not in result  # null: removed
        elif isinstance(value, dict):
            assert result[name] == merge_patch(target.get(name), value)  # object: merged
        else:
            assert result[name] == value  # anything else: replaced
    assert result.keys() <= target.keys() | patch.keys()


def _patch_from(target: Any, wanted: Any) -> Any:
    """The merge patch that turns `target` into `wanted` (computed here, for the law below)."""
    if not (isinstance(target, dict) and isinstance(wanted, dict)):
        return wanted
    patch: dict[str, Any] = dict.fromkeys(target.keys() - wanted.keys())
    for name, value in wanted.items():
        if name not in target:
            patch[name] = value
        elif target[name] != value:
            patch[name] = _patch_from(target[name], value)
    return patch


@given(JSON, NULL_FREE_OBJECTS)
def test_any_document_without_null_members_can_be_reached(
    target: Any, wanted: dict[str, Any]
) -> None:
    assert merge_patch(target, _patch_from(target, wanted)) == wanted
