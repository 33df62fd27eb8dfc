"""Stable identity ids: growth keeps the id, merges keep the oldest, splits keep the anchor."""

from tastr_stream.associate import IdentityBook, same_partition


def test_identity_keeps_its_id_when_it_gains_members():
    book = IdentityBook()
    book.apply(added_nodes=["a"])
    first = book.identity_of("a")
    changes = book.apply(added_nodes=["b"], added_edges=[("a", "b")])
    assert book.identity_of("b") == first
    assert changes == {"b": (None, first)}


def test_merge_keeps_the_oldest_id_and_split_gives_the_newer_part_a_fresh_id():
    book = IdentityBook()
    book.apply(added_nodes=["a", "b"], added_edges=[("a", "b")])
    book.apply(added_nodes=["c", "d"], added_edges=[("c", "d")])
    ab, cd = book.identity_of("a"), book.identity_of("c")
    assert ab < cd
    changes = book.apply(added_edges=[("b", "c")])
    assert {book.identity_of(n) for n in "abcd"} == {ab}
    assert changes == {"c": (cd, ab), "d": (cd, ab)}
    changes = book.apply(removed_edges=[("b", "c")])
    assert book.identity_of("a") == book.identity_of("b") == ab      # "a" arrived first: its part keeps ab
    assert book.identity_of("c") == book.identity_of("d") not in (ab, cd)
    assert set(changes) == {"c", "d"}


def test_removing_a_bridge_node_splits_and_reports_the_departure():
    book = IdentityBook()
    book.apply(added_nodes=["a", "b", "c"], added_edges=[("a", "b"), ("b", "c")])
    ident = book.identity_of("a")
    changes = book.apply(removed_nodes=["a"])
    assert changes["a"] == (ident, None)
    assert book.identity_of("b") == book.identity_of("c") == ident   # "b" is now the oldest member
    changes = book.apply(removed_nodes=["b"])
    assert "c" not in changes and book.identity_of("c") == ident
    assert book.members(ident) == frozenset({"c"})


def test_same_partition_ignores_labels():
    assert same_partition({"a": 0, "b": 0, "c": 1}, {"a": 7, "b": 7, "c": 3})
    assert not same_partition({"a": 0, "b": 0, "c": 1}, {"a": 7, "b": 3, "c": 3})
    assert not same_partition({"a": 0}, {"b": 0})
