"""The test side of a split, prepared once and shared by every model: histories, held-out courses, course facts.

Under `new_learners` the histories are the fold-in courses of learners absent from training; otherwise the
test learners' training rows. Course facts (self-information, enrolments, head courses, levels) come from the
training part only, so nothing of the test part leaks into what a metric compares against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.evaluation import metrics as M
from recsys.evaluation.splits import Split


@dataclass
class EvalData:
    """Test learners with a history, their history rows and their held-out (relevant) courses."""

    users: np.ndarray  # learner ids, row order of histories/relevant
    histories: sparse.csr_matrix  # training rows, or fold-in rows under new_learners (learners x courses)
    relevant: sparse.csr_matrix  # 1 where the course was held out
    test: pd.DataFrame  # all test ratings (rating metrics use every pair)
    info: np.ndarray  # self-information per course (from train)
    genre_matrix: np.ndarray
    skipped_learners: int  # test learners without any history (ratio / new_courses splits)
    enrolment: np.ndarray | None = None  # training learners per course
    head: np.ndarray | None = None  # head-course mask (metrics.head_courses)
    levels: np.ndarray | None = None  # LEVEL per course (None when the dataset has none)
    new_cols: np.ndarray | None = None  # catalogue indices of the new courses (new_courses split)
    new_ids: np.ndarray | None = None  # their course ids and TITLEs, for the per-course view
    new_titles: np.ndarray | None = None
    known_learners: bool = True  # False under new_learners: `predict` cannot fold learners in

    @classmethod
    def from_split(cls, split: Split, head_share: float = M.DEFAULT_HEAD_SHARE) -> EvalData:
        train, test = split.train, split.test
        if split.fold_in is not None:
            # New learners: absent from train; their rows are built from the fold-in ratings.
            users = np.sort(pd.unique(split.fold_in["user"]))
            user_index = pd.Index(users)
            rows_of = user_index.get_indexer(split.fold_in["user"])
            histories = sparse.csr_matrix(
                (
                    split.fold_in["rating"].to_numpy(np.float32),
                    (rows_of, train.item_index.get_indexer(split.fold_in["item"])),
                ),
                shape=(len(users), train.n_items),
            )
            histories.sum_duplicates()
            histories.sort_indices()
            pos = user_index.get_indexer(test["user"])
            known = pos >= 0
            row_of_test = pos[known]
        else:
            pos = train.user_index.get_indexer(test["user"])
            known = pos >= 0
            rows = np.unique(pos[known])
            users, histories = train.user_ids[rows], train.matrix[rows]
            row_of_test = np.searchsorted(rows, pos[known])
        cols = train.item_index.get_indexer(test["item"][known])
        if (cols < 0).any():
            raise ValueError("test ratings name courses outside the catalogue")
        relevant = sparse.csr_matrix(
            (np.ones(int(known.sum())), (row_of_test, cols)), shape=(len(users), train.n_items)
        )
        relevant.sum_duplicates()
        relevant.data[:] = 1.0
        enrolment = M.enrolments(train.matrix)
        levels = None
        if "LEVEL" in train.courses and train.courses["LEVEL"].notna().any():
            levels = train.courses["LEVEL"].to_numpy(dtype=object)
        new_cols = None if split.new_items is None else train.item_index.get_indexer(split.new_items)
        new_ids = new_titles = None
        if new_cols is not None:
            new_ids = np.asarray([str(c) for c in split.new_items], dtype=object)
            titles = train.courses["TITLE"] if "TITLE" in train.courses else pd.Series([""] * train.n_items)
            new_titles = titles.fillna("").astype(str).to_numpy()[new_cols]
        return cls(
            users=users,
            histories=histories,
            relevant=relevant,
            test=test,
            info=M.self_information(train.matrix),
            genre_matrix=train.genre_matrix,
            skipped_learners=int(test.loc[~known, "user"].nunique()),
            enrolment=enrolment,
            head=M.head_courses(enrolment, head_share),
            levels=levels,
            new_cols=new_cols,
            new_ids=new_ids,
            new_titles=new_titles,
            known_learners=split.fold_in is None,
        )
