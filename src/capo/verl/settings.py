"""The `capo` section of a verl config (no verl needed to read it).

Its keys are `capo train`'s: the `capo` section's keys (C, P, vote, num_critiques, critique,
separators, process_groups, penalty, unjudgeable, ...) and, under capo.judge, the `judge`
section's keys (spec, base_url, temperature, concurrency, timeout, deadline, cache, ...). A key
left out takes the value of `capo train` with no arguments (src/capo/configs/default.yaml: the
exploit guards separators=next_and_last, unjudgeable=flagged), so the two
trainers cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from capo.credit import CreditConfig
from capo.errors import CapoError
from capo.train.config import CapoSection, JudgeSection, default_config_text, from_dict


def _plain(section) -> dict:
    """An OmegaConf node or a mapping -> a plain dict (resolved)."""
    if section is None:
        return {}
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(section):
            return OmegaConf.to_container(section, resolve=True)
    except ImportError:
        pass
    return dict(section)


@dataclass(frozen=True)
class CapoSettings:
    capo: CapoSection
    judge: JudgeSection

    @classmethod
    def from_section(cls, section) -> CapoSettings:
        """Settings from the verl config's `capo` node (None: all defaults). CapoError names a bad key."""
        data = _plain(section)
        judge = _plain(data.pop("judge", None))
        default = yaml.safe_load(default_config_text())
        try:
            config = from_dict({"capo": {**default["capo"], **data}, "judge": {**default["judge"], **judge}})
        except CapoError as err:  # capo train names the judge section `judge`; here it is capo.judge
            raise CapoError(str(err).replace("'judge.", "'capo.judge.")) from None
        settings = cls(config.capo, config.judge)
        settings.check()
        return settings

    def check(self) -> None:
        """The value checks of `capo train` that concern credit and the judge (its own validate()
        also checks TRL's options, which needs trl)."""
        c = self.capo
        if c.num_critiques < 1:
            raise CapoError(f"config key 'capo.num_critiques': must be > 0 (got {c.num_critiques})")
        if not 1 <= c.min_valid <= c.num_critiques:
            raise CapoError(f"config key 'capo.min_valid': must be in [1, capo.num_critiques] (got {c.min_valid})")
        if min(c.C, c.P) < 0 or c.P > c.C:
            raise CapoError(f"config keys 'capo.C', 'capo.P': need 0 <= P <= C, so that a correct answer with a "
                            f"flagged step still beats any wrong answer (got C={c.C}, P={c.P})")
        from capo.steps import compile_splitter

        try:
            compile_splitter(c.splitter)
        except ValueError as err:
            raise CapoError(f"config key 'capo.splitter': {err}") from None
        if not self.judge.spec.strip():
            raise CapoError("config key 'capo.judge.spec': must not be empty")
        self.credit_config()  # unknown guard values raise here

    def credit_config(self) -> CreditConfig:
        try:
            return self.capo.credit_config()
        except ValueError as err:
            raise CapoError(f"config section 'capo': {err}") from None

    def build_judge(self):
        """The judge, built as `capo train` builds it (capo.train.judge.judge_from_section)."""
        from capo.train.judge import judge_from_section

        return judge_from_section(self.judge, self.capo.num_critiques)
