"""The judge of a run, from the config's `judge` section: built by the same function as the judge
of `capo critique` / `capo processbench` (capo.judges.options.judge_from_options), so a setting
means the same in every command and the defaults are the same ones."""

from __future__ import annotations

from capo.judges.options import judge_from_options


def judge_from_section(judge, num_critiques: int):
    """A Judge from a JudgeSection (capo.train.config); its `cache: null` means no cache."""
    return judge_from_options(
        judge.spec, n=num_critiques, temperature=judge.temperature, top_p=judge.top_p, max_tokens=judge.max_tokens,
        seed=judge.seed, base_url=judge.base_url, api_key_env=judge.api_key_env, concurrency=judge.concurrency,
        timeout=judge.timeout, retries=judge.retries, deadline=judge.deadline, batch_size=judge.batch_size,
        cache=judge.cache, use_cache=judge.cache is not None, prompt_template=judge.prompt_template,
        parse_mode=judge.parse_mode, structured_verdicts=judge.structured_verdicts)


def build_judge(config):
    """The judge of a `capo`/`genorm` run (None for grpo). genorm's judge decides final-answer
    correctness, so a generating judge gets the GenORM prompt unless the config names a template."""
    if config.algorithm == "grpo":
        return None
    from capo.train.trainer import GENORM_TEMPLATE

    judge = judge_from_section(config.judge, config.capo.num_critiques)
    if config.algorithm == "genorm" and config.judge.prompt_template is None and hasattr(judge, "template"):
        judge.template = GENORM_TEMPLATE
    return judge
