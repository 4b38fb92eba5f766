"""The shared engine of generating judges: bounded concurrency, progress, back-end bugs isolated."""

import asyncio

from capo.judges import CritiqueRequest, make_judge
from capo.judges.runtime import GeneratingJudge, Sample
from support.fake_servers import FakeChatServer

REQS = [CritiqueRequest(f"p{i}", ("a = 1", "b")) for i in range(12)]


def test_concurrency_is_bounded_and_progress_reported():
    seen = []
    with FakeChatServer(delay=0.15) as srv:
        with make_judge("openai:m", base_url=srv.base_url, concurrency=3, on_progress=seen.append) as judge:
            result = judge.critique(REQS, 2)
    assert result.num_failed == 0 and srv.max_in_flight == 3
    assert sum(seen) == 24


class BuggyJudge(GeneratingJudge):
    name = "buggy"

    def identity(self):
        return {"backend": "buggy"}

    async def _generate(self, jobs, emit, deadline, stats):
        emit(jobs[0], [Sample("Wrong step list: [0]")])  # one answer, then a crash
        raise KeyError("bug in a back-end")


class PartialJudge(BuggyJudge):
    async def _generate(self, jobs, emit, deadline, stats):
        for job in jobs:
            emit(job, [Sample("Wrong step list: [1]"), Sample(error="timeout", detail="slow")])
            await asyncio.sleep(0)


def test_a_backend_bug_fails_the_rest_of_the_batch_without_raising():
    judge = BuggyJudge()
    result = judge.critique(REQS[:3], 2)
    assert result.critiques[0][0].wrong_steps == frozenset({0})
    assert result.failures == {"judge_error": 5}
    assert "KeyError" in result.critiques[2][1].error
    judge.close()


def test_partial_answers_are_kept_and_cached(tmp_path):
    judge = PartialJudge(cache=str(tmp_path / "c.sqlite"))
    result = judge.critique(REQS[:4], 2)
    assert result.failures == {"timeout": 4} and all(cs[0].wrong_steps == frozenset({1}) for cs in result.critiques)
    again = judge.critique(REQS[:4], 2)
    assert again.stats["cache_hits"] == 4 and again.critiques[0][0].cached
    judge.close()
