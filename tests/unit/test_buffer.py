from memfuse_server.buffer import Incoming, RoundBuffer, WindowState
from memfuse_server.models import Role

U, A = Role.USER, Role.ASSISTANT


def test_window_closes_before_the_round_that_would_exceed_max_rounds() -> None:
    plan = RoundBuffer(max_tokens=800, max_rounds=2).plan(
        WindowState(), [Incoming(U, 5), Incoming(A, 5), Incoming(U, 5), Incoming(U, 5)]
    )
    assert plan.close_before == (False, False, False, True)
    assert plan.state == WindowState(tokens=5, rounds=1, size=1)


def test_window_closes_before_a_message_that_would_pass_the_token_limit() -> None:
    plan = RoundBuffer(max_tokens=10, max_rounds=5).plan(
        WindowState(tokens=6, rounds=1, size=1), [Incoming(A, 5)]
    )
    assert plan.close_before == (True,)
    assert plan.state.tokens == 5


def test_a_message_over_the_limit_is_an_episode_of_its_own() -> None:
    plan = RoundBuffer(max_tokens=10, max_rounds=5).plan(
        WindowState(tokens=3, rounds=1, size=1), [Incoming(U, 50)]
    )
    assert plan.close_before == (True,)
    assert plan.close_after_last
    assert plan.state == WindowState()


def test_replies_do_not_start_rounds() -> None:
    plan = RoundBuffer(max_tokens=800, max_rounds=1).plan(
        WindowState(), [Incoming(U, 1), Incoming(A, 1), Incoming(Role.TOOL, 1)]
    )
    assert plan.close_before == (False, False, False)
    assert plan.state == WindowState(tokens=3, rounds=1, size=3)
