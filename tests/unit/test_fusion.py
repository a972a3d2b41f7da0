from memfuse_server.retrieval.fusion import RankedList, reciprocal_rank_fusion


def test_items_in_several_lists_rank_first_and_scores_are_in_unit_range() -> None:
    fused = reciprocal_rank_fusion(
        [RankedList("a", ["x", "y", "z"]), RankedList("b", ["y", "w"], weight=0.5)], k=60
    )
    assert [f.key for f in fused] == ["y", "x", "z", "w"]
    assert fused[0].ranks == {"a": 2, "b": 1}
    assert all(0.0 <= f.score <= 1.0 for f in fused)


def test_first_in_every_list_scores_one() -> None:
    fused = reciprocal_rank_fusion([RankedList("a", ["x"]), RankedList("b", ["x"])])
    assert fused[0].score == 1.0


def test_weights_change_the_order() -> None:
    lists = [RankedList("a", ["x", "y"], weight=1.0), RankedList("b", ["y", "x"], weight=3.0)]
    assert reciprocal_rank_fusion(lists)[0].key == "y"


def test_no_candidates() -> None:
    assert reciprocal_rank_fusion([RankedList("a", [])]) == []
