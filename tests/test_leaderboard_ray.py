"""The Ray backend runs the same jobs as the local one, in worker processes of a local Ray instance
(2 CPUs), and gives the same numbers: every metric but the timing ones is identical."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

import test_leaderboard as local_tests  # noqa: E402

from leaderboard.runner import TIMING_KEYS, read_result, submit  # noqa: E402

# the tiny splits, one torch thread and the trained checkpoint of the local tests
one_torch_thread, tiny_splits, trained = local_tests.one_torch_thread, local_tests.tiny_splits, local_tests.trained
TINY_SPLITS, write_submission = local_tests.TINY_SPLITS, local_tests.write_submission

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_finalizer(request):
    """`submit` starts the local Ray instance itself (no address given); it is shut down here."""
    request.addfinalizer(ray.shutdown)


def without_timing(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key not in TIMING_KEYS}


def test_ray_backend_gives_the_local_numbers(ray_finalizer, trained, tmp_path):
    submissions = [
        write_submission(tmp_path / "random", "my-random", "random"),
        write_submission(tmp_path / "trained", "mine", "topofree", trained),
    ]
    for backend in ("ray", "local"):
        for folder in submissions:
            _, jobs = submit(folder, backend=backend, results_dir=tmp_path / backend)
            assert jobs == sum(len(split.seeds) for split in TINY_SPLITS.values())
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
    for name in ("my-random", "mine"):
        remote, local = read_result(name, tmp_path / "ray"), read_result(name, tmp_path / "local")
        for split in TINY_SPLITS:
            assert remote["splits"][split]["backend"] == "ray" and local["splits"][split]["backend"] == "local"
            assert without_timing(remote["splits"][split]["metrics"]) == without_timing(
                local["splits"][split]["metrics"]
            )
            for remote_seed, local_seed in zip(
                remote["splits"][split]["per_seed"], local["splits"][split]["per_seed"], strict=True
            ):
                assert without_timing(remote_seed) == without_timing(local_seed)
