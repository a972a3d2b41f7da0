from memfuse_server.retrieval.search import focus


def test_focus_keeps_the_latest_turns_of_a_long_query() -> None:
    history = "\\n".join(f"User: old message number {i} " + "x" * 80 for i in range(50))
    text = history + "\\nUser: where did I park the car?"
    focused = focus(text, limit=300)
    assert focused.endswith("where did I park the car?")
    assert len(focused) <= 300
    assert "number 0 " not in focused
    assert focus("short question") == "short question"
