"""CAPO for verl (cluster scale): a reward manager, an advantage estimator and an entry point.

    python -m capo.verl.main_ppo --config-path $PWD/configs/verl --config-name small <verl overrides>

    records.py     per-response CAPO record <-> capo.credit inputs; the batch's dense rewards (no verl)
    settings.py    the `capo` section of the verl config: capo train's keys and defaults (no verl)
    reward.py      CapoRewardManager: verl reward-loop manager "capo" (r_v, alignment, judge critiques)
    estimator.py   advantage estimator "capo": capo.rewards.token_group_advantages over `index`
    trainer.py     the hook that writes the dense (B, T) rewards into rm_scores before advantages
    main_ppo.py    verl's main_ppo with a TaskRunner that registers the plugin where verl needs it
    plugin.py      importing it registers "capo" in verl's estimator and reward-manager registries

Only settings.py and records.py import without verl; nothing in the core capo package imports this
package. docs/verl.md has the launch commands and what was and was not tested.
"""
