"""Import this module to register CAPO in verl's registries of this process:

    advantage estimator "capo"   (verl.trainer.ppo.core_algos.register_adv_est)
    reward manager "capo"        (verl.experimental.reward_loop.reward_manager.register)

verl's registries are per process. `python -m capo.verl.main_ppo` imports this module where verl
needs it: in its TaskRunner (advantages) and, through the reward manager's import path, in every
reward-loop worker (capo.verl.trainer.install). `pytest -p capo.verl.plugin` imports it for verl's
own test suite.
"""

from capo.verl import estimator, reward  # noqa: F401  (registration)
