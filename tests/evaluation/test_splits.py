import pytest

from mmm_evidence.evaluation.splits import holdout_split, rolling_origin_splits


def test_holdout_is_the_last_weeks():
    s = holdout_split(156, 26)
    assert (s.train_end, s.test_end, s.test_weeks) == (130, 156, 26)
    with pytest.raises(ValueError, match="holdout_weeks=156"):
        holdout_split(156, 156)


def test_rolling_origin_folds_are_consecutive_and_never_look_ahead():
    folds = rolling_origin_splits(156, folds=4, horizon=13, min_train=52)
    assert [(f.train_end, f.test_end) for f in folds] == [(104, 117), (117, 130), (130, 143),
                                                          (143, 156)]
    for f in folds:
        assert f.train_end < f.test_end <= 156


def test_folds_with_too_little_history_are_dropped():
    folds = rolling_origin_splits(80, folds=4, horizon=13, min_train=52)
    assert [f.train_end for f in folds] == [54, 67]
    assert [f.name for f in folds] == ["fold1", "fold2"]
