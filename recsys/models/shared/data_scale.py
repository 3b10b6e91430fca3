"""The size of the training data that data-relative defaults are expressed in.

An L2 penalty on a model fitted to enrolment counts (EASE's ridge, implicit ALS's factor penalty) competes with
those counts, so one fixed number cannot suit 1,000 learners and 34,000: a penalty right for the large data
flattens the small one into popularity (ALS with 300 on 1,000 learners), one right for the small data overfits
the large one. What the penalty has to hold back is the sampling noise of the co-enrolment counts, which grows
like the square root of the counts, and that is what we measured: the best penalty of both models grows like
sqrt(enrolments) -- on the built-in data from 1,000 to 34,000 learners (6,000 to 206,000 enrolments) and on a
1,000-learner sample cut to its 60 most-taken courses (same enrolments on a fifth of the catalogue, same best
penalty). docs/defaults.md has the figures.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def enrolment_count(matrix) -> int:
    """Distinct (learner, course) enrolments in a learners x courses rating matrix (stored zeros not counted)."""
    m = sparse.csr_matrix(matrix)
    return int(m.count_nonzero())


def per_root_enrolment(scale: float, matrix) -> float:
    """`scale` x sqrt(enrolments): a penalty that follows the data from 1,000 learners to millions."""
    return float(scale) * float(np.sqrt(max(1, enrolment_count(matrix))))
