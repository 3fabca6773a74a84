"""The one vote: identical answers form a candidate, candidates rank by (votes, mean confidence), descending,
ties going to the candidate first seen. Test-time views (``hrm_sdk.runtime.views``) and ARC's augmented
versions (``hrm_sdk.tasks.arc.voting``) both tally through ``Tally``. Plain numpy; nothing here knows a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def sigmoid(x) -> np.ndarray:
    """Numerically stable logistic function, float64."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=np.float64)))


@dataclass
class Candidate:
    answer: np.ndarray  # the voted answer (tokens, or an ARC grid), in the puzzle's own frame
    votes: int
    mean_q: float  # mean confidence (sigmoid(q_halt)) of its votes
    views: list[int] = field(default_factory=list)  # the views that voted for it, ascending (when tallied by view)

    @property
    def grid(self) -> np.ndarray:  # ARC's name for the answer
        return self.answer

    @property
    def count(self) -> int:  # ARC's name for the votes
        return self.votes


class Tally:
    """Votes per key: distinct answers (same shape and values) with their vote count and confidences.
    ``mean`` averages a candidate's confidences (default: their sum in vote order over the count)."""

    def __init__(self, mean=None):
        self._votes: dict = {}
        self._mean = mean or (lambda qs: sum(qs) / len(qs))

    def add(self, key, answer: np.ndarray, confidence: float, view: int | None = None, dtype=None) -> None:
        answer = np.ascontiguousarray(answer, dtype=dtype)
        h = np.array(answer.shape, dtype=np.int64).tobytes() + answer.tobytes()
        entry = self._votes.setdefault(key, {}).setdefault(h, [answer, [], []])
        entry[1].append(float(confidence))
        if view is not None:
            entry[2].append(view)

    def ranked(self) -> dict:
        """key -> [Candidate, ...], best first (stable: candidates in the order of their first vote)."""
        out = {}
        for key, answers in self._votes.items():
            cands = [Candidate(a, len(qs), float(self._mean(qs)), vs) for a, qs, vs in answers.values()]
            out[key] = sorted(cands, key=lambda c: (-c.votes, -c.mean_q))
        return out


def vote(answers: np.ndarray, q_halt: np.ndarray) -> list[Candidate]:
    """Group identical answers ``[K, L]`` (one per view) and rank them by (votes, mean sigmoid(q_halt)), best
    first; on a full tie the candidate whose first vote came from the earlier view wins."""
    answers = np.asarray(answers)
    confidence = sigmoid(q_halt)
    tally = Tally(mean=np.mean)
    for v, a in enumerate(answers):
        tally.add(None, a.copy(), confidence[v], view=v)
    return tally.ranked()[None]
