"""`python -m capo.verl.main_ppo [--config-path DIR --config-name NAME] <verl overrides>`

verl's main_ppo, with capo.verl.trainer.CapoTaskRunner as the TaskRunner and the config
capo/verl/config/capo_trainer.yaml (capo_ppo.yaml: verl's ppo_trainer plus algorithm.adv_estimator=capo,
reward.reward_manager.name=capo and the `capo` section) as the default. docs/verl.md has the
commands.
"""

import hydra
from verl.trainer.main_ppo import run_ppo
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import validate_config
from verl.utils.device import auto_set_device

from capo.errors import CapoError
from capo.verl.trainer import CapoTaskRunner, check_config


@hydra.main(config_path="config", config_name="capo_trainer", version_base=None)
def main(config) -> None:
    auto_set_device(config)
    try:
        check_config(config)  # here too, so that a bad setting fails before Ray starts
    except CapoError as err:
        raise SystemExit(f"capo: {err}") from None
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    run_ppo(config, task_runner_class=CapoTaskRunner)


if __name__ == "__main__":
    main()
