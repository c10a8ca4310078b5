"""The moves that put a bulk send's new Rally objects in the board's order (pure logic; the
sandbox test is in test_push.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aharally.sync.outgoing.ranking import _longest_in_order, _moves


def _apply(rally: list[int], moves) -> list[int]:
    """Rally's order after each move, as Rally makes it (right above or below the other)."""
    order = list(rally)
    for pk, (how, beside) in moves:
        order.remove(pk)
        at = order.index(beside)
        order.insert(at if how == "rankAbove" else at + 1, pk)
    return order


@given(st.permutations(list(range(12))))
def test_the_moves_leave_rally_in_the_boards_order_and_move_only_what_is_out_of_it(rally):
    board = list(range(12))
    place = {pk: n for n, pk in enumerate(rally)}
    moves = _moves(board, key=place.get)
    assert _apply(rally, moves) == board
    assert len(moves) == len(board) - len(_longest_in_order(board, place.get))


def test_the_longest_run_in_order_is_the_longest():
    place = {pk: n for n, pk in enumerate([3, 0, 4, 1, 5, 2])}
    # Rally holds 3 0 4 1 5 2: 3 4 5 (or 0 1 2) is in order already; the others move.
    assert _longest_in_order([0, 1, 2, 3, 4, 5], place.get) == [3, 4, 5]
    assert _moves([0, 1, 2, 3, 4, 5], key=place.get) == [
        (0, ("rankAbove", 3)),
        (1, ("rankBelow", 0)),
        (2, ("rankBelow", 1)),
    ]
    assert _moves([7], key=lambda pk: 0) == []
