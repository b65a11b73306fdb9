"""Scores of the leaderboard: normalized score per split (random = 0, oracle = 1), ranks, the mean
over the zero-shot splits and the zero-shot degradation. Results computed on another fingerprint
than the split's current one are never ranked with the others."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from moebench.metrics import normalized_score
from moebench.splits import Split, resolve_splits

RANDOM, ORACLE = "random", "oracle"


@dataclass
class Row:
    name: str
    algorithm: str
    kind: str
    split: str
    metrics: dict
    score: float
    evaluated_at: str
    commit: str
    rank: int | None = None  # None for the bounds, which are references, not competitors


@dataclass
class Board:
    splits: list[Split]
    rows: dict[str, list[Row]] = field(default_factory=dict)  # split -> rows, best first
    overall: list[dict] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (name, split) on an old fingerprint
    missing_reference: list[str] = field(default_factory=list)  # splits without random or oracle


def _reference(results: list[dict], algorithm: str, split: str, fingerprint: str) -> float | None:
    """The return of the reference entry (named as its algorithm, else any entry of it) on a split."""
    ordered = sorted(results, key=lambda r: r.get("name") != algorithm)
    for result in ordered:
        entry = result.get("splits", {}).get(split)
        if result.get("algorithm") == algorithm and entry and entry.get("fingerprint") == fingerprint:
            return float(entry["metrics"]["return"])
    return None


def build_board(results: list[dict], splits: list[Split] | None = None) -> Board:
    splits = splits if splits is not None else resolve_splits(None)
    board = Board(splits)
    for split in splits:
        fingerprint = split.fingerprint()
        low = _reference(results, RANDOM, split.name, fingerprint)
        high = _reference(results, ORACLE, split.name, fingerprint)
        if low is None or high is None:
            board.missing_reference.append(split.name)
        rows = []
        for result in results:
            entry = result.get("splits", {}).get(split.name)
            if entry is None:
                continue
            if entry.get("fingerprint") != fingerprint:
                board.stale.append((result["name"], split.name))
                continue
            ret = float(entry["metrics"]["return"])
            score = normalized_score(ret, low, high) if low is not None and high is not None else float("nan")
            rows.append(
                Row(
                    result["name"],
                    result["algorithm"],
                    result.get("kind", ""),
                    split.name,
                    entry["metrics"],
                    score,
                    entry.get("evaluated_at", ""),
                    entry.get("commit", ""),
                )
            )
        rows.sort(key=lambda r: (-r.metrics["return"], r.name))
        rank = 0
        for row in rows:
            if row.kind != "bound":
                rank += 1
                row.rank = rank
        board.rows[split.name] = rows
    board.overall = _overall(board, results)
    return board


def _overall(board: Board, results: list[dict]) -> list[dict]:
    zero_shot = [s.name for s in board.splits if s.zero_shot]
    in_dist = [s.name for s in board.splits if not s.zero_shot]
    table = []
    for result in results:
        scores = {row.split: row.score for rows in board.rows.values() for row in rows if row.name == result["name"]}
        zs = [scores[s] for s in zero_shot if s in scores and math.isfinite(scores[s])]
        complete = len(zs) == len(zero_shot) and zero_shot
        zs_mean = sum(zs) / len(zs) if complete else float("nan")
        ind = scores.get(in_dist[0], float("nan")) if in_dist else float("nan")
        degradation = 1.0 - zs_mean / ind if complete and math.isfinite(ind) and abs(ind) > 1e-12 else float("nan")
        dates = [row for rows in board.rows.values() for row in rows if row.name == result["name"]]
        latest = max(dates, key=lambda r: r.evaluated_at) if dates else None
        table.append(
            {
                "name": result["name"],
                "algorithm": result["algorithm"],
                "kind": result.get("kind", ""),
                "in_dist_score": ind,
                "zero_shot_score": zs_mean,
                "degradation": degradation,
                "evaluated_at": latest.evaluated_at if latest else "",
                "commit": latest.commit if latest else "",
            }
        )
    table.sort(key=lambda r: (-(r["zero_shot_score"] if math.isfinite(r["zero_shot_score"]) else -1e9), r["name"]))
    rank = 0
    for row in table:
        row["rank"] = None
        if row["kind"] != "bound" and math.isfinite(row["zero_shot_score"]):
            rank += 1
            row["rank"] = rank
    return table
